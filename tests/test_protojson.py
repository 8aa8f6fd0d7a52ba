"""api/protojson.py writes exactly what json_format writes, in both styles, faster."""

from __future__ import annotations

import json

import pytest
from google.protobuf import empty_pb2, json_format, message
from test_model import full_load_balancer

from limiquantix.network.v1 import network_pb2 as res
from limiquantix.network.v1 import network_service_pb2 as svc
from quantix_lb import convert, model
from quantix_lb.api import protojson


def _messages() -> list[message.Message]:
    lb = full_load_balancer()
    pending, active = convert.load_balancer_out(lb), convert.load_balancer_out(model.realized(lb))
    failed = convert.load_balancer_out(model.realized(lb, "OVN Northbound rejected the change: x"))
    stats = svc.LoadBalancerStats(
        load_balancer_id="lb-1", active_connections=3, total_connections=2**40, requests_per_second=0.5
    )
    stats.sampled_at.FromSeconds(1_800_000_000)
    stats.listener_stats.add(listener_id="lis-1", active_connections=0, bytes_in=7)
    odd = svc.LoadBalancerStats(load_balancer_id="x", requests_per_second=float("nan"))
    return [
        pending,
        active,
        failed,
        res.LoadBalancer(),  # every field at its default
        res.PoolMember(id="m", weight=0, admin_state_up=False),  # optional fields set to defaults
        svc.ListLoadBalancersResponse(load_balancers=[active, failed], next_page_token="tok", total_count=2),
        svc.ListLoadBalancersResponse(),
        svc.WatchLoadBalancersResponse(type="CREATED", load_balancer=active),
        stats,
        odd,
        svc.LoadBalancerStats(requests_per_second=float("-inf")),
        empty_pb2.Empty(),
    ]


@pytest.mark.parametrize("style", ["connect", "rest"])
def test_same_as_json_format(style: str) -> None:
    ours = protojson.connect_dict if style == "connect" else protojson.rest_dict
    rest = style == "rest"
    for msg in _messages():
        theirs = json_format.MessageToDict(
            msg, preserving_proto_field_name=rest, always_print_fields_with_no_presence=rest
        )
        # Compared as JSON text of sorted keys: the same values, the same types.
        assert json.dumps(ours(msg), sort_keys=True) == json.dumps(theirs, sort_keys=True), type(msg).__name__


def test_types_outside_the_plan_go_to_json_format() -> None:
    from google.protobuf import struct_pb2

    value = struct_pb2.Struct()
    value.update({"a": 1, "b": [True, "x"]})
    assert protojson.connect_dict(value) == json_format.MessageToDict(value)
    assert protojson.CONNECT.plan(struct_pb2.Struct.DESCRIPTOR) is None
