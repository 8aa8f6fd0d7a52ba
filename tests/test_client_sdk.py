"""The Python client SDK (issue 11, part 5): `pip install ./generated` in a fresh venv gives
the public API (limiquantix.network.v1: messages, gRPC stubs, Connect clients) and none of
the server's dependencies, and talks to a real server over Connect and gRPC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from conftest import ROOT, Server

SERVER_ONLY = ("ovs", "uvicorn", "starlette", "sqlite-utils", "structlog", "quantix-lb")

# Run inside the client's venv: what a caller of the SDK writes (the README's example).
CALLER = """
import importlib.util
import json
import sys

import grpc

from limiquantix.network.v1 import network_pb2 as lb
from limiquantix.network.v1 import network_service_pb2 as svc
from limiquantix.network.v1.network_service_connect import LoadBalancerServiceClientSync
from limiquantix.network.v1.network_service_pb2_grpc import LoadBalancerServiceStub

http_url, grpc_addr = sys.argv[1:3]
seen = {}


def create(name: str, vip: str) -> svc.CreateLoadBalancerRequest:
    return svc.CreateLoadBalancerRequest(
        name=name,
        project_id="proj-123",
        spec=lb.LoadBalancerSpec(
            network_id="net-sdk",
            vip_address=vip,
            listeners=[lb.Listener(protocol=lb.Listener.TCP, port=80)],
            pools=[lb.Pool(name="web", members=[lb.PoolMember(address="10.0.0.10", port=8080)])],
        ),
    )


with LoadBalancerServiceClientSync(http_url) as client:  # Connect, binary protobuf
    made = client.create_load_balancer(create("via-connect", "192.168.90.10"))
    seen["connect"] = [made.id, client.get_load_balancer(svc.GetLoadBalancerRequest(id=made.id)).name]
with LoadBalancerServiceClientSync(http_url, proto_json=True) as client:  # Connect, JSON
    listed = client.list_load_balancers(svc.ListLoadBalancersRequest(network_id="net-sdk"))
    seen["connect_json_list"] = sorted(x.name for x in listed.load_balancers)
with grpc.insecure_channel(grpc_addr) as channel:
    stub = LoadBalancerServiceStub(channel)
    made = stub.CreateLoadBalancer(create("via-grpc", "192.168.90.11"))
    seen["grpc"] = [made.id, stub.GetLoadBalancer(svc.GetLoadBalancerRequest(id=made.id)).name]
    listed = stub.ListLoadBalancers(svc.ListLoadBalancersRequest(network_id="net-sdk"))
    seen["grpc_list"] = sorted(x.name for x in listed.load_balancers)
seen["importable"] = sorted(
    m for m in ("ovs", "uvicorn", "starlette", "sqlite_utils", "structlog", "quantix_lb", "quantix")
    if importlib.util.find_spec(m) is not None
)
print(json.dumps(seen))
"""


def _run(*argv: str | Path, timeout: float = 300) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(a) for a in argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**env, "PIP_NO_INPUT": "1"},
    )
    assert done.returncode == 0, (
        f"{argv}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done.stdout


def test_the_client_installs_alone_and_talks_connect_and_grpc(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv)  # no system site packages
    python = venv / "bin" / "python"
    # From an index (the pip cache makes it quick); a failure to reach one fails the test.
    _run(python, "-m", "pip", "install", "--disable-pip-version-check", "-q", ROOT / "generated")
    # pip builds ./generated in place: its backend (hatchling) writes nothing there (no build/,
    # no *.egg-info), so generated/ stays generated code and its manifest.
    assert not [p for p in (ROOT / "generated").iterdir() if p.name == "build" or p.suffix == ".egg-info"]

    installed = {p["name"].lower() for p in json.loads(_run(python, "-m", "pip", "list", "--format", "json"))}
    assert "quantix-lb-client" in installed
    assert {"protobuf", "grpcio", "googleapis-common-protos", "connect-python"} <= installed, installed
    assert not installed & set(SERVER_ONLY), installed

    srv = make_server()
    seen = json.loads(_run(python, "-c", CALLER, srv.http_url, srv.grpc_addr, timeout=60))
    assert seen["connect"][0].startswith("lb-") and seen["connect"][1] == "via-connect"
    assert seen["connect_json_list"] == ["via-connect"]
    assert seen["grpc"][0].startswith("lb-") and seen["grpc"][1] == "via-grpc"
    assert seen["grpc_list"] == ["via-connect", "via-grpc"]
    assert seen["importable"] == [], seen  # neither the server nor the internal worker protocol
