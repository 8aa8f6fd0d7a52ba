"""The five-minute demo works: `scripts/sandbox.py --check` curls through the VIP."""

import subprocess
import sys

import pytest

from conftest import ROOT, needs_ovn


@pytest.mark.ovn
@needs_ovn
def test_sandbox_demo_reaches_every_backend():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sandbox.py"), "--check",
         "--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "answered by: web1, web2, web3" in result.stdout
