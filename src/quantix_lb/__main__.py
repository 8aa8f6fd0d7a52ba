import sys

from quantix_lb.cli import main

sys.exit(main())
