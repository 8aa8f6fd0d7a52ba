"""Data-path statistics: per-VIP and per-backend figures read from the node's OVS connection tracker."""
