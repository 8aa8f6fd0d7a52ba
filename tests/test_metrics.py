"""GET /metrics on the HTTP port: Prometheus text format, counting what the test did,
open without --auth-tokens and admin-only with them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import grpc
import httpx
import pytest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from builders import create_request, seed_body
from conftest import Server, Watcher, wait_for
from limiquantix.network.v1 import network_service_pb2 as pb
from limiquantix.network.v1.network_service_connect import LoadBalancerServiceClientSync
from quantix_lb import metrics

MISSING_ID = "lb-00000000-0000-4000-8000-000000000000"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(srv: Server, token: str | None = None) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.get(srv.http_url + "/metrics", headers=headers, timeout=10)


def parse(text: str) -> tuple[set[str], Samples]:
    """Family names, and every sample by (name, labels)."""
    families, samples = set(), {}
    for family in text_string_to_metric_families(text):
        families.add(family.name)
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return families, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def matching(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def test_metrics_count_what_was_done(server: Server):
    lb = server.stub.CreateLoadBalancer(create_request(seed_body()), timeout=10)
    assert lb.status.provisioning_status == "ACTIVE"
    assert httpx.get(f"{server.http_url}/api/v1/load-balancers/{lb.id}", timeout=10).status_code == 200
    with pytest.raises(grpc.RpcError) as info:
        server.stub.GetLoadBalancer(pb.GetLoadBalancerRequest(id=MISSING_ID), timeout=10)
    assert info.value.code() is grpc.StatusCode.NOT_FOUND
    LoadBalancerServiceClientSync(server.http_url).list_load_balancers(
        pb.ListLoadBalancersRequest(), timeout_ms=10_000
    )
    watcher = Watcher(server, "grpc")
    assert [e.id for e in watcher.snapshot()] == [lb.id]
    watcher.close()

    def streams_closed() -> Samples | None:
        _, samples = parse(scrape(server).text)
        return samples if matching(samples, "quantix_lb_rpc_streams_total") else None

    wait_for(streams_closed, what="the watch stream to be counted")
    resp = scrape(server)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    families, samples = parse(resp.text)

    # Unary RPCs: exactly the four this test made (a scrape is not an RPC).
    counts = matching(samples, "quantix_lb_rpc_duration_seconds_count")
    assert counts == {
        frozenset({("method", "CreateLoadBalancer"), ("transport", "grpc"), ("code", "OK")}): 1,
        frozenset({("method", "GetLoadBalancer"), ("transport", "rest"), ("code", "OK")}): 1,
        frozenset({("method", "GetLoadBalancer"), ("transport", "grpc"), ("code", "NOT_FOUND")}): 1,
        frozenset({("method", "ListLoadBalancers"), ("transport", "connect"), ("code", "OK")}): 1,
    }
    create = {"method": "CreateLoadBalancer", "transport": "grpc", "code": "OK"}
    assert value(samples, "quantix_lb_rpc_duration_seconds_bucket", **create, le="+Inf") == 1
    assert value(samples, "quantix_lb_rpc_duration_seconds_bucket", **create, le="0.0005") == 0
    assert 0 < value(samples, "quantix_lb_rpc_duration_seconds_sum", **create) < 10
    ((labels, closed),) = matching(samples, "quantix_lb_rpc_streams_total").items()
    assert closed == 1
    assert dict(labels).keys() == {"method", "transport", "code"}
    assert (dict(labels)["method"], dict(labels)["transport"]) == ("WatchLoadBalancers", "grpc")

    # The create took NB transactions: the network's switch, then the load balancer.
    assert value(samples, "quantix_lb_ovn_nb_transaction_duration_seconds_count", outcome="ok") >= 2
    assert value(samples, "quantix_lb_ovn_nb_transaction_duration_seconds_count", outcome="error") == 0
    assert value(samples, "quantix_lb_ovn_nb_transaction_duration_seconds_sum", outcome="ok") > 0
    assert value(samples, "quantix_lb_ovn_nb_commands_total") >= 2

    # Callback gauges, read at scrape time.
    assert 0 <= value(samples, "quantix_lb_ovn_full_pass_duration_seconds") < 5
    assert 0 <= value(samples, "quantix_lb_ovn_full_pass_age_seconds") < 60
    assert value(samples, "quantix_lb_health_workers_connected") == 0
    assert value(samples, "quantix_lb_health_transitions_total", healthy="true") == 0
    assert value(samples, "quantix_lb_health_transitions_total", healthy="false") == 0
    assert "quantix_lb_ovn_pending_load_balancers" in families
    wait_for(
        lambda: value(parse(scrape(server).text)[1], "quantix_lb_ovn_pending_load_balancers") == 0,
        what="nothing pending in the NB",
    )
    assert all(name.startswith("quantix_lb_") for name in families), families


def test_metrics_is_get_only(server: Server):
    resp = httpx.post(server.http_url + "/metrics", timeout=10)
    assert resp.status_code == 405
    assert resp.json()["code"] == "UNIMPLEMENTED"
    assert "GET" in resp.headers["allow"].split(", ")


def test_metrics_needs_an_admin_token_with_auth(make_server: Callable[..., Server], tmp_path: Path):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(
        json.dumps(
            {"tok-a": {"project_id": "proj-a"}, "tok-w": {"role": "worker"}, "tok-admin": {"role": "admin"}}
        )
    )
    srv = make_server("--auth-tokens", str(tokens))
    for token, status, code in [
        (None, 401, "UNAUTHENTICATED"),
        ("tok-unknown", 401, "UNAUTHENTICATED"),
        ("tok-a", 403, "PERMISSION_DENIED"),
        ("tok-w", 403, "PERMISSION_DENIED"),
    ]:
        resp = scrape(srv, token)
        assert resp.status_code == status, (token, resp.text)
        assert resp.headers["content-type"].startswith("application/json")
        assert resp.json()["code"] == code
        assert set(resp.json()) == {"code", "message", "details"}
    resp = scrape(srv, "tok-admin")
    assert resp.status_code == 200
    families, samples = parse(resp.text)
    assert "quantix_lb_rpc_duration_seconds" in families
    assert not matching(samples, "quantix_lb_rpc_duration_seconds_count")  # scrapes are not RPCs


class _ExampleCollector:
    """What a later collector looks like: figures kept elsewhere, yielded as families."""

    def __init__(self, figures: dict[str, float]) -> None:
        self.figures = figures

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("quantix_lb_example_connections", "Example.", labels=["load_balancer"])
        for lb_id, connections in self.figures.items():
            family.add_metric([lb_id], connections)
        yield family


def test_register_collector_adds_its_families():
    figures = {"lb-1": 3.0}
    metrics.register_collector(_ExampleCollector(figures))
    figures["lb-2"] = 7.0  # read at render time, not at registration
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    _, samples = parse(body.decode())
    assert matching(samples, "quantix_lb_example_connections") == {
        frozenset({("load_balancer", "lb-1")}): 3.0,
        frozenset({("load_balancer", "lb-2")}): 7.0,
    }


def test_sources_are_read_at_render_time():
    readings = iter([None, 2.0])
    metrics.set_source(metrics.PENDING, lambda: next(readings))
    families, samples = parse(metrics.render()[0].decode())
    assert "quantix_lb_ovn_pending_load_balancers" in families  # declared, no value yet
    assert not matching(samples, "quantix_lb_ovn_pending_load_balancers")
    _, samples = parse(metrics.render()[0].decode())
    assert value(samples, "quantix_lb_ovn_pending_load_balancers") == 2.0
    with pytest.raises(KeyError):
        metrics.set_source("quantix_lb_unknown", lambda: 1.0)
