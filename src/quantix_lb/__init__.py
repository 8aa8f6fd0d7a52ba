"""quantix-lb: native Layer-4 load balancing for Quantix-KVM on OVN."""

__version__ = "0.1.0"
