"""What tests, scripts and benchmarks share: a real `serve` (`Server`) and a private
OVN (`ovn_testbed`, imported on its own: `from quantix_lb.testing import ovn_testbed`)."""

from quantix_lb.testing.server import QUANTIX_LB, Server

__all__ = ["QUANTIX_LB", "Server"]
