"""How `serve` starts and stops: one process per data dir, and bad input never a 500."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from builders import spec_body
from conftest import QUANTIX_LB, ROOT, Server, wait_for
from quantix_lb.testing import ovn_testbed

SERVICE = "/limiquantix.network.v1.LoadBalancerService"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(Path(tmp_path_factory.mktemp("lifecycle")) / "data").start()
    try:
        yield server
    finally:
        server.stop()


def test_a_second_serve_on_the_same_data_dir_exits_and_touches_nothing(srv: Server) -> None:
    argv = [*QUANTIX_LB, "serve", "--data-dir", str(srv.data_dir), "--no-local-worker",
            "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"]  # fmt: skip
    second = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert second.returncode != 0
    assert f"{srv.data_dir} is in use by another quantix-lb (pid {srv.proc.pid})" in second.stderr, (
        second.stderr
    )
    # The first one still serves, its embedded Northbound included.
    with httpx.Client(base_url=srv.http_url, timeout=15) as http:
        created = http.post("/api/v1/load-balancers", json=spec_body())
    assert created.status_code == 201, created.text
    assert created.json()["status"]["provisioning_status"] == "ACTIVE"


# Each of these made the server answer 500 before (issue 9); now a 4xx with a JSON body.
BAD_CONNECT = [
    ("gzip-that-is-not", {"content-type": "application/json", "content-encoding": "gzip"}, b"notgzip", 400),
    ("unknown-encoding", {"content-type": "application/json", "content-encoding": "br2"}, b"{}", 400),
    ("grpc-content-type", {"content-type": "application/grpc"}, b"\0\0\0\0\0", 415),
    ("grpc-web-content-type", {"content-type": "application/grpc-web+proto"}, b"", 415),
    ("corrupt-proto", {"content-type": "application/proto"}, b"\xff\xff\xff", 400),
    ("lone-surrogate", {"content-type": "application/json"}, b'{"name": "\\ud800"}', 400),
    ("deep-json", {"content-type": "application/json"}, b"[" * 100_000 + b"]" * 100_000, 400),
]


@pytest.mark.parametrize("case", BAD_CONNECT, ids=[c[0] for c in BAD_CONNECT])
def test_bad_connect_requests_are_client_errors(srv: Server, case: tuple) -> None:
    _, headers, body, status = case
    response = httpx.post(f"{srv.http_url}{SERVICE}/CreateLoadBalancer", headers=headers, content=body)
    assert response.status_code == status, response.text
    assert response.json()["code"] == "invalid_argument"


def test_rest_error_bodies_encode_whatever_the_client_sent(srv: Server) -> None:
    response = httpx.post(
        f"{srv.http_url}/api/v1/load-balancers",
        content=b'{"\\ud800": 1}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "INVALID_ARGUMENT"
    assert "is not a field of CreateLoadBalancerRequest" in response.json()["message"]


@pytest.mark.parametrize("kind", ["json", "proto"])
def test_undecodable_stream_requests_end_with_invalid_argument(srv: Server, kind: str) -> None:
    """A Connect stream whose envelope holds no valid message, or is not valid gzip."""
    bodies = [b"\0\0\0\0\x05hello", b"\x01\0\0\0\x03abc"]
    for envelope in bodies:
        headers = {"content-type": f"application/connect+{kind}"}
        if envelope[0] == 1:
            headers["connect-content-encoding"] = "gzip"
        response = httpx.post(
            f"{srv.http_url}{SERVICE}/WatchLoadBalancers", headers=headers, content=envelope
        )
        assert response.status_code == 200  # Connect streams report errors in the end message
        assert b'"code": "invalid_argument"' in response.content, response.content


def test_gzip_bodies_are_read(srv: Server) -> None:
    response = httpx.post(
        f"{srv.http_url}{SERVICE}/ListLoadBalancers",
        headers={"content-type": "application/json", "content-encoding": "gzip"},
        content=gzip.compress(b'{"pageSize": 1}'),
    )
    assert response.status_code == 200, response.text


def test_no_traceback_in_the_log(srv: Server) -> None:
    assert not [line for line in srv.log_lines if "Traceback" in line or '"rpc.crashed"' in line]


def test_page_token_of_deep_json_is_invalid_argument(srv: Server) -> None:
    token = base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode()
    response = httpx.get(f"{srv.http_url}/api/v1/load-balancers", params={"page_token": token})
    assert response.status_code == 400, response.text
    assert response.json()["details"][0]["field_violations"][0]["field"] == "page_token"


# --- stopping: Ctrl-C and SIGTERM, as from a terminal; children restarted when they die ---------


def _errors(lines: list[str]) -> list[str]:
    """Log lines at error level or above: ours (JSON), gRPC's (absl: E0102 ...), stdlib's."""
    found = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            if re.match(r"[EF]\d{4} |ERROR|CRITICAL|Traceback", line):
                found.append(line)
            continue
        if isinstance(event, dict) and event.get("level") in ("error", "critical", "exception"):
            found.append(line)
    return found


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_to_the_terminals_process_group_stops_serve_quietly(tmp_path: Path, sig: int) -> None:
    """Ctrl-C signals the whole foreground process group: only serve takes it, and it
    stops its children (worker, realizer, embedded NB) in order and exits 0 without a
    word of error."""
    srv = Server(tmp_path / "data", local_worker=True, new_session=True).start()
    try:
        srv.wait_event("health.worker_joined", 20)
        srv.wait_event("ovn.embedded_nb_compacted", 20)  # its ovs-appctl is a child until then
        children = srv.child_pids()
        assert len(children) == 3, children  # the local worker, the realizer, ovsdb-server
        assert srv.proc is not None
        os.killpg(srv.proc.pid, sig)  # a session leader: its pgid is its pid
        code = srv.proc.wait(30)
    finally:
        srv.stop()
    assert code == 0
    assert "Traceback" not in "".join(srv.log_lines)
    assert not _errors(srv.log_lines), "".join(srv.log_lines)
    assert '"serve.stopped"' in "".join(srv.log_lines)
    assert not [pid for pid in children if ovn_testbed.pid_alive(pid)]


def test_a_killed_embedded_northbound_is_restarted_and_writes_go_on(tmp_path: Path) -> None:
    srv = Server(tmp_path / "data").start()
    try:
        first = srv.wait_event("ovn.embedded_nb_started", 5)["pid"]
        os.kill(first, signal.SIGKILL)
        wait_for(
            lambda: sum('"ovn.embedded_nb_started"' in line for line in list(srv.log_lines)) == 2,
            20,
            "a new ovsdb-server",
        )
        (exited,) = [json.loads(line) for line in srv.log_lines if '"ovn.embedded_nb_exited"' in line]
        assert (exited["pid"], exited["code"]) == (first, -signal.SIGKILL)
        with httpx.Client(base_url=srv.http_url, timeout=15) as http:
            created = http.post("/api/v1/load-balancers", json=spec_body()).json()
            wait_for(
                lambda: (
                    http.get(f"/api/v1/load-balancers/{created['id']}").json()["status"][
                        "provisioning_status"
                    ]
                    == "ACTIVE"
                ),
                20,
                "the load balancer ACTIVE on the new Northbound",
            )
    finally:
        assert srv.stop() == 0


def test_healthz_and_readyz(srv: Server) -> None:
    alive = httpx.get(f"{srv.http_url}/healthz")
    assert (alive.status_code, alive.json()["status"]) == (200, "SERVING")
    # Ready once the NB is read and compared with the store: moments after serve.ready.
    ready = wait_for(
        lambda: (r := httpx.get(f"{srv.http_url}/readyz")).status_code == 200 and r, 10, "/readyz 200"
    )
    # Started without its local worker, serve needs no worker session to be ready.
    assert ready.json() == {"ready": True, "store": "open", "ovn_northbound": "read", "health_workers": 0}


def test_ready_only_once_the_northbound_is_read_and_compared(tmp_path: Path) -> None:
    """Readiness waits for the realizer's first full pass after reading the NB, not
    only for the read: until the pass ends, load balancers show PENDING_* that the
    reconciler is about to know better (at 12,000, for ~2 s after the read)."""
    from types import SimpleNamespace

    from quantix_lb.server import ControlPlane, Settings

    plane = ControlPlane(Settings(data_dir=tmp_path, local_worker=False))
    plane._store = SimpleNamespace(is_open=True)  # type: ignore[assignment]
    realizer = SimpleNamespace(topology=SimpleNamespace(synced=False), last_full_pass=None)
    plane._realizer = realizer  # type: ignore[assignment]
    states = []
    for synced, passed in ((False, None), (True, None), (True, object())):
        realizer.topology.synced, realizer.last_full_pass = synced, passed
        ready, parts = plane._readiness()
        states.append((ready, parts["ovn_northbound"]))
    assert states == [(False, "not read"), (False, "comparing"), (True, "read")]


def test_readyz_waits_for_the_northbound(make_server) -> None:  # type: ignore[no-untyped-def]
    """An external NB that does not answer: alive, not ready (503, saying why)."""
    srv = make_server("--ovn-nb", "tcp:127.0.0.1:1")
    assert httpx.get(f"{srv.http_url}/healthz").status_code == 200
    not_ready = httpx.get(f"{srv.http_url}/readyz")
    assert not_ready.status_code == 503, not_ready.text
    assert not_ready.json()["ovn_northbound"] == "not read"


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_each_log_line_is_one_write(fmt: str) -> None:
    """serve's children share its stderr: a line written in two pieces (the text, then
    its newline) can have another process's line land between them."""
    script = f"""
import io, json, sys
writes = []
class Recorder(io.StringIO):
    def write(self, s):
        writes.append(s)
        return len(s)
sys.stderr = Recorder()
from quantix_lb import logs
import structlog
logs.configure({fmt!r})
log = structlog.get_logger()
log.info("ovn.nb_connection", remote="unix:/x", synced=False)
log.warning("ovn.embedded_nb_exited", pid=1, code=-9)
print(json.dumps(writes))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    writes = json.loads(done.stdout)
    assert len(writes) == 2, writes
    assert all(w.endswith("\n") and w.count("\n") == 1 for w in writes), writes
