"""Networks belong to projects (issue 9): no tenant can put a VIP on another's network.

A network belongs to the project the Northbound names on its switch
(external_ids:quantix:project-id), else to the first project that used it; an operator
shares it with external_ids:quantix:shared-with. Another project's network answers
NOT_FOUND, in the same words as a network that does not exist, whoever calls.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from builders import spec_body, uniq
from conftest import Server, wait_for
from quantix_lb.testing.server import NBCTL

TOKENS = {
    "tok-a": {"project_id": "proj-a"},
    "tok-b": {"project_id": "proj-b"},
    "tok-admin": {"role": "admin"},
    "tok-worker": {"role": "worker"},
}
pytestmark = pytest.mark.skipif(not Path(NBCTL).exists(), reason="ovn-nbctl not installed")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("tenancy")
    tokens = base / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    server = Server(base / "data", ["--auth-tokens", str(tokens)]).start()
    try:
        yield server
    finally:
        server.stop()


def create(srv: Server, token: str, network: str, **fields: Any) -> httpx.Response:
    body = spec_body(network_id=network, **fields)
    if "project_id" not in fields:
        body.pop("project_id")  # the token's
    headers = {"authorization": f"Bearer {token}"}
    return httpx.post(f"{srv.http_url}/api/v1/load-balancers", json=body, headers=headers, timeout=15)


def not_found(network: str) -> dict[str, Any]:
    return {
        "code": "NOT_FOUND",
        "message": f"spec.network_id: network {network!r} not found (an OVN Logical_Switch of that name"
        " or external_ids:quantix:network-id, that this project owns or is shared)",
        "details": [],
    }


def test_the_first_project_to_use_a_network_owns_it(srv: Server) -> None:
    net = uniq("net")
    first = create(srv, "tok-a", net)
    assert first.status_code == 201, first.text
    # Project B, and an admin creating for project B, cannot use it; nor learn what is there.
    for token, extra in (("tok-b", {}), ("tok-admin", {"project_id": "proj-b"})):
        refused = create(srv, token, net, vip_address="192.168.1.100", **extra)
        assert (refused.status_code, refused.json()) == (404, not_found(net)), refused.text
    # Its owner keeps using it.
    again = create(srv, "tok-a", net, vip_address="192.168.1.101")
    assert again.status_code == 201, again.text


def test_the_northbound_names_the_owner_and_shares_a_network(srv: Server) -> None:
    net = uniq("net")
    srv.nbctl("ls-add", net, "--", "set", "logical_switch", net, 'external_ids:"quantix:project-id"=proj-b')

    def b_may() -> bool:
        return create(srv, "tok-b", net, vip_address="192.168.1.10").status_code == 201

    wait_for(b_may, 10, "the service to see the switch")  # the Northbound's word, before first use
    refused = create(srv, "tok-a", net, vip_address="192.168.1.11")
    assert (refused.status_code, refused.json()) == (404, not_found(net))

    srv.nbctl("set", "logical_switch", net, 'external_ids:"quantix:shared-with"="proj-x,proj-a"')
    shared = wait_for(
        lambda: (r := create(srv, "tok-a", net, vip_address="192.168.1.12")).status_code == 201 and r,
        10,
        "the share to reach the service",
    )
    assert shared.json()["project_id"] == "proj-a"


def test_a_vip_may_not_be_the_address_of_a_port(srv: Server) -> None:
    net = uniq("net")
    assert create(srv, "tok-a", net, vip_address="192.168.1.100").status_code == 201
    srv.nbctl("lsp-add", net, "vm1", "--", "lsp-set-addresses", "vm1", "00:00:00:00:00:01 192.168.1.5")

    def refused() -> httpx.Response | None:
        r = create(srv, "tok-a", net, vip_address="192.168.1.5")
        return r if r.status_code == 409 else None

    answer = wait_for(refused, 10, "the port's address to be known")
    assert (
        answer.json()["message"]
        == f"spec.vip_address: 192.168.1.5 is the address of a port on network {net!r}"
    )


def test_a_worker_token_opens_only_the_worker_stream(srv: Server) -> None:
    headers = {"authorization": "Bearer tok-worker"}
    listed = httpx.get(f"{srv.http_url}/api/v1/load-balancers", headers=headers)
    assert listed.status_code == 403, listed.text
    assert listed.json()["message"] == "a worker token may not call ListLoadBalancers"
    connect = httpx.post(
        f"{srv.http_url}/limiquantix.network.v1.LoadBalancerService/ListLoadBalancers",
        json={},
        headers=headers,
    )
    assert connect.status_code == 403, connect.text
