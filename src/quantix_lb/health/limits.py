"""The floor under a health monitor's intervals, shared by validation and the prober.

It lives here, beside the prober and importing nothing, so the control plane's validation
(quantix_lb.model) and the health workers (which know only their own package and the proto)
read one number: the API refuses a monitor below it, and the prober schedules anything
below it (data stored before the floor existed) at the floor.
"""

from __future__ import annotations

# Seconds: the shortest `delay` and `timeout` of a health monitor (100 ms). A member checked
# every 100 ms is detected down within max_retries x 0.1 s + timeout; faster checks only load
# the worker (and the member) without telling anyone anything sooner that matters.
MIN_INTERVAL = 0.1

# Checks per second one project may start on one worker (the default of the prober's
# `project_budget` and of `health-worker --project-budget`): 1,000 members every second,
# or 100 at the 100 ms floor.
PROJECT_BUDGET = 1000.0
