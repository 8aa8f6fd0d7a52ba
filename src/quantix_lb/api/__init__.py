"""Transports: thin adapters over one Dispatcher (gRPC, Connect, REST)."""
