"""The local health worker that `serve` starts, against real HTTP servers on loopback."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from builders import listener_json, member_json, pool_json, spec_body
from conftest import LOOPBACK_BACKENDS, Server, wait_for


class Backend:
    """An HTTP server answering /health with 200 until stopped; restartable on its port."""

    def __init__(self) -> None:
        self.server: http.server.ThreadingHTTPServer | None = None
        self.port = 0

    def start(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200 if self.path == "/health" else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        class Quiet(http.server.ThreadingHTTPServer):
            allow_reuse_address = True

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # health probes close with an RST; that is not an error here

        self.server = Quiet(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def backends() -> Iterator[list[Backend]]:
    items = [Backend() for _ in range(3)]
    for b in items:
        b.start()
    yield items
    for b in items:
        b.stop()


def monitored_lb(backends: list[Backend], protocol: str, vip: str, monitor: dict) -> dict:
    """A create body: one listener on one pool of the loopback backends, checked by `monitor`."""
    pool = {"members": [member_json("127.0.0.1", b.port) for b in backends], "health_monitor": monitor}
    return spec_body([listener_json(protocol)], [pool], network_id="net-local", vip_address=vip)


def get_lb(http: httpx.Client, lb_id: str) -> dict:
    resp = http.get(f"/api/v1/load-balancers/{lb_id}")
    assert resp.status_code == 200, resp.text
    return resp.json()


def members_by_port(http: httpx.Client, lb_id: str) -> dict[int, dict]:
    (pool,) = get_lb(http, lb_id)["spec"]["pools"]
    return {m["port"]: m for m in pool["members"]}


def statuses(http: httpx.Client, lb_id: str) -> dict[int, str]:
    return {port: m["operating_status"] for port, m in members_by_port(http, lb_id).items()}


def worker_pids(server: Server) -> list[int]:
    return [
        json.loads(line)["pid"] for line in list(server.log_lines) if '"health.local_worker_started"' in line
    ]


def test_local_worker_marks_a_dead_backend_and_brings_it_back(make_server, backends: list[Backend]) -> None:  # type: ignore[no-untyped-def]
    # Members are loopback servers only: the local worker probes them for real.
    server = make_server(*LOOPBACK_BACKENDS, local_worker=True)
    with httpx.Client(base_url=server.http_url, timeout=10) as http:
        monitor = {"type": "HTTP", "delay_ms": 200, "timeout_ms": 100, "max_retries": 2,
                   "healthy_threshold": 2, "url_path": "/health"}  # fmt: skip
        resp = http.post(
            "/api/v1/load-balancers", json=monitored_lb(backends, "HTTP", "192.168.9.10", monitor)
        )
        assert resp.status_code == 201, resp.text
        lb = resp.json()
        ports = [b.port for b in backends]
        wait_for(lambda: set(statuses(http, lb["id"]).values()) == {"ONLINE"}, what="every member ONLINE")
        assert {m["last_failure_reason"] for m in members_by_port(http, lb["id"]).values()} == {""}

        backends[1].stop()
        started = time.monotonic()
        wait_for(
            lambda: statuses(http, lb["id"])[ports[1]] == "ERROR", what="the stopped backend to be ERROR"
        )
        # max_retries * delay + timeout, plus scheduling slack
        assert time.monotonic() - started < 2 * 0.2 + 0.1 + 1.0
        # Why the check failed reaches the API; the others never failed.
        reasons = {port: m["last_failure_reason"] for port, m in members_by_port(http, lb["id"]).items()}
        assert reasons == {ports[0]: "", ports[1]: "connection refused", ports[2]: ""}
        sock = server.data_dir / "ovn" / "nb.sock"

        def vips() -> str:
            return subprocess.run(
                ["ovn-nbctl", f"--db=unix:{sock}", "--bare", "--columns=vips", "list", "load_balancer"],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip

        wait_for(lambda: f"127.0.0.1:{ports[1]}" not in vips(), what="the member to leave the vips")

        backends[1].start()
        wait_for(
            lambda: statuses(http, lb["id"])[ports[1]] == "ONLINE", what="the backend to be ONLINE again"
        )
        # Recovered, the member keeps the reason of its last failure.
        assert members_by_port(http, lb["id"])[ports[1]]["last_failure_reason"] == "connection refused"
        wait_for(lambda: f"127.0.0.1:{ports[1]}" in vips(), what="the member to rejoin the vips")

        # Kill the worker: serve starts another, and no member flaps meanwhile.
        before = get_lb(http, lb["id"])["updated_at"]
        (first,) = worker_pids(server)
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: len(worker_pids(server)) == 2, what="a new local worker")
        wait_for(
            lambda: sum('"health.worker_joined"' in line for line in list(server.log_lines)) == 2,
            what="the new worker's session",
        )
        # A negative: observe five probe rounds of the new worker; nothing may change.
        time.sleep(1.0)
        after = get_lb(http, lb["id"])
        assert after["updated_at"] == before
        assert set(statuses(http, lb["id"]).values()) == {"ONLINE"}


def test_worker_reconnects_after_a_control_plane_restart_without_flapping(
    make_server, backends: list[Backend]
) -> None:  # type: ignore[no-untyped-def]
    server = make_server("--no-local-worker", "--allow-local-addresses")
    worker = subprocess.Popen(
        [sys.executable, "-m", "quantix_lb", "--log-format", "json", "health-worker",
         "--control-plane", server.grpc_addr, "--node-id", "ext", "--probe-from-host"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(worker.stderr.readline, "")), daemon=True).start()
    try:
        with httpx.Client(base_url=server.http_url, timeout=10) as http:
            monitor = {"type": "TCP", "delay_ms": 200, "timeout_ms": 100}
            resp = http.post(
                "/api/v1/load-balancers", json=monitored_lb(backends, "TCP", "192.168.9.20", monitor)
            )
            assert resp.status_code == 201, resp.text
            lb = resp.json()
            wait_for(lambda: set(statuses(http, lb["id"]).values()) == {"ONLINE"}, what="every member ONLINE")
            before = get_lb(http, lb["id"])["updated_at"]
        server.stop()
        server.start()  # same data dir and gRPC port
        wait_for(lambda: sum('"worker.connected"' in line for line in lines) >= 2, what="the worker back")
        with httpx.Client(base_url=server.http_url, timeout=10) as http:
            # A negative: several probe rounds on the new session change nothing.
            time.sleep(1.0)
            after = get_lb(http, lb["id"])
            assert after["updated_at"] == before
            assert set(statuses(http, lb["id"]).values()) == {"ONLINE"}
    finally:
        worker.terminate()
        worker.wait(10)


def test_without_a_data_path_members_say_why_they_are_not_checked(make_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`serve` as a new user runs it: embedded Northbound, local worker, no OVS on the node.
    The design document's members (tenant addresses) are not probed from the host: they show
    NO_MONITOR with the reason, and stay in the vips."""
    env_rundir = tmp_path / "no-ovs"  # an OVS run directory with no OVS in it
    env_rundir.mkdir()
    server = make_server("--ovs-rundir", str(env_rundir), local_worker=True)
    body = spec_body(
        [listener_json("TCP")],
        [pool_json("10.0.0.10", "10.0.0.11", health_monitor={"type": "HTTP", "delay": 5, "timeout": 3})],
        network_id="net-456",
        vip_address="192.168.1.100",
    )
    with httpx.Client(base_url=server.http_url, timeout=10) as http:
        resp = http.post("/api/v1/load-balancers", json=body)
        assert resp.status_code == 201, resp.text
        lb_id = resp.json()["id"]
        members = wait_for(
            lambda: (
                (m := members_by_port(http, lb_id))
                and all(x["operating_status"] == "NO_MONITOR" for x in m.values())
                and m
            ),
            20,
            "members reported unchecked",
        )
        (reason,) = {m["last_failure_reason"] for m in members.values()}
        assert reason.startswith("not checked: no Open vSwitch at"), reason
        assert "--probe-from-host" in reason
        # Not checked is not failed: the members stay in the vips.
        row = server.nbctl(
            "--bare", "--columns=vips", "find", "Load_Balancer", f"external_ids:quantix\\:lb-id={lb_id}"
        )
        assert "10.0.0.10:8080" in row and "10.0.0.11:8080" in row, row


def test_a_member_back_from_draining_or_off_shows_its_health_again(
    make_server, backends: list[Backend]
) -> None:  # type: ignore[no-untyped-def]
    server = make_server(*LOOPBACK_BACKENDS, local_worker=True)
    with httpx.Client(base_url=server.http_url, timeout=10) as http:
        monitor = {"type": "TCP", "delay_ms": 200, "timeout_ms": 100, "max_retries": 2}
        resp = http.post(
            "/api/v1/load-balancers", json=monitored_lb(backends, "TCP", "192.168.9.30", monitor)
        )
        assert resp.status_code == 201, resp.text
        lb = resp.json()
        wait_for(lambda: set(statuses(http, lb["id"]).values()) == {"ONLINE"}, what="every member ONLINE")
        pool = lb["spec"]["pools"][0]
        member = pool["members"][0]
        path = f"/api/v1/load-balancers/{lb['id']}/pools/{pool['id']}/members/{member['id']}"
        port = member["port"]
        for off, on, shown in (({"drain": True}, {"drain": False}, "DRAINING"),
                               ({"admin_state_up": False}, {"admin_state_up": True}, "OFFLINE")):  # fmt: skip
            assert http.put(path, json=off).status_code == 200
            wait_for(lambda shown=shown: statuses(http, lb["id"])[port] == shown, what=f"member {shown}")
            assert http.put(path, json=on).status_code == 200
            # Its health was checked all along (or is checked again): ONLINE, not OFFLINE for good.
            wait_for(lambda: statuses(http, lb["id"])[port] == "ONLINE", 10, "member ONLINE again")
