"""The operators' CLI (issue 11, part 4): the real `quantix-lb` entry point, run as a
subprocess against a real `serve`, speaking only the public API (Connect)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from conftest import QUANTIX_LB, Server
from limiquantix.network.v1 import network_service_pb2 as pb
from quantix.lb.v1 import health_worker_pb2 as wire
from quantix_lb.testing.worker import FakeWorker

_ENTRY = Path(sys.executable).with_name("quantix-lb")
# The console script pip made; `python -m quantix_lb` where the venv has none.
CLI = [str(_ENTRY)] if _ENTRY.exists() else QUANTIX_LB
LIST_COLUMNS = (
    "id", "name", "vip_address", "network", "project", "provisioning_status", "operating_status",
    "listeners", "healthy/members",
)  # fmt: skip
MONITOR = "delay=5,timeout=3,max_retries=3,url_path=/health,expected_codes=200,202"
TOKENS = {
    "tok-a": {"project_id": "proj-a"},
    "tok-b": {"project_id": "proj-b"},
    "tok-admin": {"role": "admin"},
}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUANTIX_LB_")}
    return {**env, **extra}


def cli(srv: Server | None, *args: str, code: int = 0, stdin: str | None = None, **env: str) -> str:
    """Runs `quantix-lb ARGS` (with --url of `srv` from $QUANTIX_LB_URL) and returns its stdout;
    fails unless it exits with `code`."""
    url = {"QUANTIX_LB_URL": srv.http_url} if srv else {}
    done = subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=60, input=stdin, env=_env(**url, **env)
    )
    assert done.returncode == code, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout if code == 0 else done.stderr


def cli_json(srv: Server, *args: str, **env: str):  # type: ignore[no-untyped-def]
    return json.loads(cli(srv, *args, "-o", "json", **env))


def table_rows(text: str) -> list[list[str]]:
    """The cells of an ASCII box table's rows (header first)."""
    return [
        [c.strip() for c in line.strip("|").split("|")] for line in text.splitlines() if line.startswith("|")
    ]


def field_values(text: str) -> dict[str, str]:
    """A Field/Value table (the first one in `text`) as a dict; wrapped values joined."""
    values: dict[str, str] = {}
    last = ""
    for line in text.split("\n\n")[0].splitlines():
        if line.startswith("|"):
            field, value = (c.strip() for c in line.strip("|").split("|"))
            if field:
                last = field
                values[field] = value
            else:
                values[last] += " " + value
    return values


def _ctrl_c_default() -> None:
    """In a long-running command's child, before exec: SIGINT at its default. A shell starts
    background jobs with SIGINT ignored, and a Python started so installs no
    KeyboardInterrupt: the suite run that way waited forever on Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Running:
    """A long-running CLI command (watch, stats --watch): its stdout lines in a queue,
    waited for with deadlines; Ctrl-C (SIGINT) ends it."""

    def __init__(self, srv: Server, *args: str) -> None:
        self.proc = subprocess.Popen(
            [*CLI, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(QUANTIX_LB_URL=srv.http_url),
            preexec_fn=_ctrl_c_default,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, match: Callable[[str], bool], timeout: float = 15.0) -> str:
        import time

        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                raise AssertionError(f"no matching line within {timeout} s; got {self.seen[-20:]}") from None
            if line is None:
                assert self.proc.stderr
                raise AssertionError(f"exited {self.proc.wait()}: {self.proc.stderr.read()}; got {self.seen}")
            self.seen.append(line)
            if match(line):
                return line

    def interrupt(self) -> tuple[int, str]:
        """Ctrl-C: the exit code and stderr. (Not communicate(): the pump thread reads
        stdout too, and a read it wins leaves communicate blocked in its own.)"""
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        finally:
            self.kill()
        assert self.proc.stderr
        return self.proc.returncode, self.proc.stderr.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


@pytest.fixture
def running() -> Iterator[Callable[..., Running]]:
    started: list[Running] = []

    def start(srv: Server, *args: str) -> Running:
        started.append(Running(srv, *args))
        return started[-1]

    try:
        yield start
    finally:
        for proc in started:
            proc.kill()


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(tmp_path_factory.mktemp("cli") / "data").start()
    try:
        yield server
    finally:
        server.stop()


def create_web_lb(srv: Server, name: str, network: str, vip: str, *extra: str) -> dict:
    """The README's load balancer, through the CLI's flags."""
    return cli_json(
        srv, "lb", "create", "--name", name, "--project", "proj-123", "--network", network, "--vip", vip,
        "--pool", "web:ROUND_ROBIN", "--member", "web:10.0.0.10:8080", "--member", "web:10.0.0.11:8080:2",
        "--health-monitor", f"web:HTTP:{MONITOR}", "--listener", "TCP:80:web", *extra,
    )  # fmt: skip


# --- load balancers ------------------------------------------------------------------------


def test_lb_create_list_show_update_delete(srv: Server) -> None:
    lb = create_web_lb(srv, "cli-web", "net-cli-1", "192.168.10.100", "--label", "tier=web")
    assert lb["id"].startswith("lb-") and lb["name"] == "cli-web" and lb["labels"] == {"tier": "web"}
    assert lb["status"]["provisioning_status"] == "ACTIVE"
    (listener,) = lb["spec"]["listeners"]
    (pool,) = lb["spec"]["pools"]
    assert (listener["protocol"], listener["port"], listener["default_pool_id"]) == ("TCP", 80, pool["id"])
    assert [(m["address"], m["port"], m["weight"]) for m in pool["members"]] == [
        ("10.0.0.10", 8080, 1),
        ("10.0.0.11", 8080, 2),
    ]
    monitor = pool["health_monitor"]
    assert (monitor["type"], monitor["delay"], monitor["timeout"], monitor["max_retries"]) == (
        "HTTP",
        5,
        3,
        3,
    )
    assert (monitor["url_path"], monitor["expected_codes"]) == ("/health", "200,202")

    # lb list: openstack's box table, one row per load balancer.
    rows = table_rows(cli(srv, "lb", "list", "--network", "net-cli-1"))
    assert tuple(rows[0]) == LIST_COLUMNS
    (row,) = rows[1:]
    healthy = sum(m["operating_status"] in ("ONLINE", "NO_MONITOR") for m in pool["members"])
    assert row == [
        lb["id"], "cli-web", "192.168.10.100", "net-cli-1", "proj-123", "ACTIVE",
        lb["status"]["operating_status"], "TCP:80", f"{healthy}/2",
    ]  # fmt: skip

    # lb show, by name: the Field/Value table, then listeners, pools, members.
    shown = cli(srv, "lb", "show", "cli-web")
    fields = field_values(shown)
    assert (fields["id"], fields["name"], fields["vip_address"], fields["labels"]) == (
        lb["id"], "cli-web", "192.168.10.100", "tier=web",
    )  # fmt: skip
    assert "Listeners:" in shown and "Pools:" in shown and "Members:" in shown
    assert "HTTP every 5s, timeout 3s, 3 retries, GET /health -> 200,202" in shown
    assert cli_json(srv, "lb", "show", lb["id"]) == cli_json(srv, "lb", "show", "cli-web")

    # lb update: what the flags name changes, the rest stays; labels merge.
    updated = yaml.safe_load(
        cli(
            srv, "lb", "update", "cli-web", "--description", "front door", "--label", "team=net", "-o", "yaml"
        )
    )
    assert (updated["name"], updated["description"]) == ("cli-web", "front door")
    assert updated["labels"] == {"tier": "web", "team": "net"}
    updated = cli_json(srv, "lb", "update", lb["id"], "--name", "cli-web-2", "--remove-label", "tier")
    assert (updated["name"], updated["description"], updated["labels"]) == (
        "cli-web-2",
        "front door",
        {"team": "net"},
    )
    assert cli_json(srv, "lb", "update", "cli-web-2", "--clear-labels", "--description", "")["labels"] == {}
    assert "nothing to change" in cli(srv, "lb", "update", "cli-web-2", code=2)

    cli(srv, "lb", "delete", "cli-web-2")
    err = cli(srv, "lb", "show", lb["id"], code=1)
    assert err.startswith(f"quantix-lb: NOT_FOUND: load balancer {lb['id']!r} not found"), err
    assert "quantix-lb: NOT_FOUND: load balancer 'cli-web-2' not found" in cli(
        srv, "lb", "show", "cli-web-2", code=1
    )


def test_lb_create_from_a_yaml_file_with_flags_on_top(srv: Server, tmp_path: Path) -> None:
    spec = {
        "name": "from-file",
        "project_id": "proj-123",
        "spec": {
            "networkId": "net-cli-2",  # camelCase is taken too
            "vip_address": "192.168.20.100",
            "listeners": [{"protocol": "UDP", "port": 53, "default_pool_id": "dns"}],
            "pools": [
                {"name": "dns", "algorithm": "SOURCE_IP", "members": [{"address": "10.0.2.10", "port": 53}]}
            ],
        },
    }
    path = tmp_path / "lb.yaml"
    path.write_text(yaml.safe_dump(spec))
    lb = cli_json(
        srv, "lb", "create", "-f", str(path), "--vip", "192.168.20.101", "--listener", "UDP:5353:dns"
    )
    assert (lb["name"], lb["spec"]["network_id"], lb["spec"]["vip_address"]) == (
        "from-file", "net-cli-2", "192.168.20.101",
    )  # fmt: skip
    assert [(li["protocol"], li["port"]) for li in lb["spec"]["listeners"]] == [("UDP", 53), ("UDP", 5353)]
    assert lb["spec"]["pools"][0]["algorithm"] == "SOURCE_IP"

    # The design document's flat shorthand from stdin, as JSON.
    flat = {
        "name": "flat", "project_id": "proj-123", "network_id": "net-cli-2", "vip_address": "192.168.20.102",
        "listeners": [
            {"protocol": "TCP", "port": 80,
             "default_pool": {"members": [{"address": "10.0.2.11", "port": 80}]}}
        ],
    }  # fmt: skip
    lb = json.loads(
        cli(srv, "lb", "create", "-f", "-", "--vip", "192.168.20.103", "-o", "json", stdin=json.dumps(flat))
    )
    assert lb["spec"]["vip_address"] == "192.168.20.103"

    err = cli(srv, "lb", "create", "-f", "-", stdin='{"name": "x", "spec": {"listner": []}}', code=2)
    assert "Invalid value for '--file'" in err and "listner" in err, err


def test_listener_pool_member_add_update_remove(srv: Server) -> None:
    lb = create_web_lb(srv, "cli-parts", "net-cli-3", "192.168.30.100")
    lb_id = lb["id"]

    pool = cli_json(
        srv, "pool", "add", "cli-parts", "api", "--algorithm", "least-connections",
        "--health-monitor", "TCP:delay=0.5,timeout=0.25", "--member", "10.0.3.20:9000:3",
    )  # fmt: skip
    assert (pool["name"], pool["algorithm"]) == ("api", "LEAST_CONNECTIONS")
    assert (pool["health_monitor"]["delay_ms"], pool["health_monitor"]["timeout_ms"]) == (500, 250)
    assert [(m["address"], m["port"], m["weight"]) for m in pool["members"]] == [("10.0.3.20", 9000, 3)]

    listener = cli_json(srv, "listener", "add", "cli-parts", "TCP:8443:api", "--name", "alt")
    assert (listener["name"], listener["port"], listener["default_pool_id"]) == ("alt", 8443, pool["id"])
    listener = cli_json(srv, "listener", "update", lb_id, "TCP:8443", "--port", "9443", "--pool", "web")
    assert (listener["port"], listener["default_pool_id"]) == (9443, lb["spec"]["pools"][0]["id"])

    pool = cli_json(
        srv, "pool", "update", lb_id, "api", "--no-health-monitor", "--persistence", "SOURCE_IP:600"
    )
    assert "health_monitor" not in pool
    assert (pool["persistence"]["type"], pool["persistence"]["timeout"]) == ("SOURCE_IP", 600)

    member = cli_json(
        srv, "member", "add", "cli-parts", "web", "10.0.0.12:8080", "--weight", "4", "--name", "m3"
    )
    assert (member["name"], member["address"], member["weight"], member["drain"]) == (
        "m3",
        "10.0.0.12",
        4,
        False,
    )
    member = cli_json(srv, "member", "update", "cli-parts", "web", "10.0.0.12:8080", "--drain", "--disable")
    assert (member["admin_state_up"], member["drain"], member["operating_status"]) == (False, True, "OFFLINE")
    member = cli_json(
        srv, "member", "update", "cli-parts", "web", "m3", "--enable", "--no-drain", "--weight", "0"
    )
    assert (member["admin_state_up"], member["drain"], member["weight"]) == (True, False, 0)
    shown = field_values(cli(srv, "member", "update", "cli-parts", "web", member["id"], "--weight", "2"))
    assert (shown["id"], shown["weight"], shown["admin_state_up"]) == (member["id"], "2", "True")

    # The server's refusal, as it words it: a pool a listener uses stays.
    err = cli(srv, "pool", "remove", "cli-parts", "web", code=1)
    assert err.startswith("quantix-lb: FAILED_PRECONDITION: "), err

    assert cli(srv, "member", "remove", "cli-parts", "web", "m3") == ""
    assert cli(srv, "listener", "remove", "cli-parts", "alt") == ""
    assert cli(srv, "pool", "remove", "cli-parts", "api") == ""
    after = srv.stub.GetLoadBalancer(pb.GetLoadBalancerRequest(id=lb_id))
    assert [(li.port, li.name) for li in after.spec.listeners] == [(80, "")]
    assert [p.name for p in after.spec.pools] == ["web"]
    assert sorted(m.address for m in after.spec.pools[0].members) == ["10.0.0.10", "10.0.0.11"]

    err = cli(srv, "member", "remove", "cli-parts", "web", "m3", code=1)
    assert err.startswith(f"quantix-lb: NOT_FOUND: member 'm3' not found in load balancer {lb_id}"), err


# --- errors -----------------------------------------------------------------------------------


def test_an_invalid_request_prints_every_field_violation_and_exits_1(srv: Server) -> None:
    err = cli(
        srv, "lb", "create", "--name", "bad", "--project", "proj-123", "--network", "net-cli-4",
        "--vip", "192.168.40.100", "--pool", "p", "--member", "p:10.0.4.10:99999:300", "--listener", "TCP:80",
        code=1,
    )  # fmt: skip
    lines = err.splitlines()
    assert lines[0].startswith("quantix-lb: INVALID_ARGUMENT: spec.pools[0].members[0]."), err
    fields = sorted(line.split(":")[0].strip() for line in lines[1:])
    assert fields == ["spec.pools[0].members[0].port", "spec.pools[0].members[0].weight"], err
    assert all(line.startswith("  ") and line.split(": ", 1)[1] for line in lines[1:]), err
    assert cli_json(srv, "lb", "list", "--network", "net-cli-4") == []  # nothing was created


def test_usage_errors_exit_2_naming_the_flag(srv: Server) -> None:
    err = cli(srv, "lb", "create", "--listener", "FTP:21", code=2)
    assert "Invalid value for '--listener': protocol 'FTP' is not one of TCP, HTTP, HTTPS, UDP, SCTP" in err
    err = cli(srv, "lb", "create", "--pool", "web", "--member", "api:10.0.0.1:80", code=2)
    assert "Invalid value for '--member': no pool 'api'" in err
    err = cli(srv, "lb", "create", "--pool", "web", "--health-monitor", "web:HTTP:delay=5,bogus=1", code=2)
    assert "Invalid value for '--health-monitor': 'bogus=1' is not KEY=VALUE" in err
    err = cli(srv, "lb", "list", "--bogus", code=2)
    assert "No such option" in err and "--bogus" in err, err
    assert "nothing to change" in cli(srv, "member", "update", "lb", "pool", "member", code=2)


def test_an_unreachable_url_exits_1_naming_it() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    err = cli(None, "lb", "list", "--url", url, code=1)
    assert (
        err.splitlines()[0] == f"quantix-lb: cannot reach the quantix-lb API at {url}: Connection refused"
    ), err


def test_tokens_from_the_flag_and_the_environment(make_server: Callable[..., Server], tmp_path: Path) -> None:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    srv = make_server("--auth-tokens", str(tokens))

    err = cli(srv, "lb", "list", code=1)
    assert err.startswith("quantix-lb: UNAUTHENTICATED: "), err
    assert cli(srv, "lb", "list", "--token", "wrong", code=1).startswith("quantix-lb: UNAUTHENTICATED: ")

    created = cli_json(
        srv, "lb", "create", "--name", "mine", "--project", "proj-a", "--network", "net-a",
        "--vip", "10.1.0.10", "--pool", "p", "--member", "p:10.1.0.20:80", "--listener", "TCP:80",
        QUANTIX_LB_TOKEN="tok-a",
    )  # fmt: skip
    assert [lb["id"] for lb in cli_json(srv, "lb", "list", QUANTIX_LB_TOKEN="tok-a")] == [created["id"]]
    assert cli_json(srv, "lb", "list", "--token", "tok-b") == []
    err = cli(srv, "lb", "show", "mine", "--token", "tok-b", code=1)
    assert err.startswith("quantix-lb: NOT_FOUND: load balancer 'mine' not found"), err
    # The flag wins over the environment.
    assert [
        lb["name"] for lb in cli_json(srv, "lb", "list", "--token", "tok-admin", QUANTIX_LB_TOKEN="tok-b")
    ] == ["mine"]


def _certificates(d: Path) -> None:
    """A CA and a server certificate for 127.0.0.1, signed by it."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=30)

    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test CA")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    (d / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "server.ext")  # fmt: skip


def test_https_with_a_private_ca(make_server: Callable[..., Server], tmp_path: Path) -> None:
    _certificates(tmp_path)
    srv = make_server("--tls-cert", str(tmp_path / "server.pem"), "--tls-key", str(tmp_path / "server.key"))
    assert srv.http_url.startswith("https://")
    assert cli_json(srv, "lb", "list", "--tls-ca", str(tmp_path / "ca.pem")) == []
    assert cli_json(srv, "lb", "list", QUANTIX_LB_TLS_CA=str(tmp_path / "ca.pem")) == []
    err = cli(srv, "lb", "list", code=1)  # the system's CAs do not know it
    assert err.startswith(f"quantix-lb: cannot reach the quantix-lb API at {srv.http_url}: "), err


# --- statistics and events -----------------------------------------------------------------


def test_stats_tell_why_figures_are_unavailable_then_show_them_live(
    srv: Server, running: Callable[..., Running]
) -> None:
    lb = create_web_lb(srv, "cli-stats", "net-cli-5", "192.168.50.100")
    (listener,) = lb["spec"]["listeners"]

    # No worker reports: every counter n/a, and the reason (never a made-up zero).
    shown = cli(srv, "stats", "cli-stats")
    totals = field_values(shown)
    assert "no health worker" in totals["unavailable_reason"], shown
    for counter in ("active_connections", "total_connections", "requests", "requests_per_second", "bytes_in"):
        assert totals[counter] == "n/a", shown
    listener_rows = table_rows(shown.split("Listeners:")[1].split("Members:")[0])
    assert listener_rows[1][:4] == [listener["id"], "TCP:80", "n/a", "n/a"], shown
    member_rows = table_rows(shown.split("Members:")[1])
    assert sorted(r[2] for r in member_rows[1:]) == ["10.0.0.10", "10.0.0.11"], shown
    figures = cli_json(srv, "stats", lb["id"])
    assert "active_connections" not in figures and figures["unavailable_reason"]

    # --watch: the figures again whenever a worker's report changes them, until Ctrl-C.
    watch = running(srv, "stats", "cli-stats", "--watch", "-o", "json")
    first = json.loads(watch.expect(lambda line: line.startswith("{")))
    assert "active_connections" not in first and first["unavailable_reason"]
    backends = [
        wire.BackendStats(address="10.0.0.10", port=8080, active=2, total=5),
        wire.BackendStats(address="10.0.0.11", port=8080, active=1, total=3),
    ]
    frontend = wire.Frontend(protocol="tcp", vip="192.168.50.100", port=80)
    report = wire.StatsReport(
        available=True, frontends=[wire.FrontendStats(frontend=frontend, backends=backends)]
    )
    worker = FakeWorker(srv.grpc_addr, "cli-node")
    worker.repeat(wire.SessionRequest(stats=report))
    try:
        line = watch.expect(lambda line: json.loads(line).get("active_connections") == "3")
    finally:
        worker.close()
    measured = json.loads(line)
    assert (measured["total_connections"], measured["unavailable_reason"]) == ("8", "")
    code, err = watch.interrupt()
    assert code == 0 and "Traceback" not in err, err


def test_watch_prints_a_line_per_event(srv: Server, running: Callable[..., Running]) -> None:
    watch = running(srv, "watch", "--network", "net-cli-6")
    assert watch.expect(lambda line: line.startswith("SNAPSHOT_COMPLETE")) == "SNAPSHOT_COMPLETE"
    lb = create_web_lb(srv, "cli-watched", "net-cli-6", "192.168.60.100")
    _, lb_id, name, status = watch.expect(lambda line: line.startswith("CREATED")).split()
    assert (lb_id, name) == (lb["id"], "cli-watched")
    assert status.split("/")[0] in ("PENDING_CREATE", "ACTIVE")
    cli(srv, "lb", "delete", lb["id"])
    assert watch.expect(lambda line: line.startswith("DELETED")).split()[1:3] == [lb["id"], "cli-watched"]
    code, err = watch.interrupt()
    assert code == 0 and "Traceback" not in err, err

    # -o json: one event per line, proto3 JSON.
    watch = running(srv, "watch", "--network", "net-cli-6", "-o", "json")
    assert json.loads(watch.expect(lambda line: "SNAPSHOT_COMPLETE" in line)) == {"type": "SNAPSHOT_COMPLETE"}
    create_web_lb(srv, "cli-watched-2", "net-cli-6", "192.168.60.101")
    events = [json.loads(watch.expect(lambda line: '"CREATED"' in line))]
    assert events[0]["load_balancer"]["name"] == "cli-watched-2"
    assert watch.interrupt()[0] == 0


# --- output formats, help, version, completion -------------------------------------------------


def test_json_and_yaml_parse_back_to_the_same_data(srv: Server) -> None:
    create_web_lb(srv, "cli-formats", "net-cli-7", "192.168.70.100")
    as_json = cli_json(srv, "lb", "list", "--network", "net-cli-7")
    as_yaml = yaml.safe_load(cli(srv, "lb", "list", "--network", "net-cli-7", "-o", "yaml"))
    assert as_json == as_yaml
    (lb,) = as_json
    assert lb["name"] == "cli-formats"
    assert lb["description"] == ""  # snake_case with every field, as REST answers
    assert lb["spec"]["pools"][0]["members"][0]["subnet_id"] == ""
    shown = yaml.safe_load(cli(srv, "lb", "show", "cli-formats", "-o", "yaml"))
    assert shown == cli_json(srv, "lb", "show", lb["id"]) == lb


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name)


def test_help_on_every_command() -> None:
    from quantix_lb.cli import cli as root

    paths = list(_commands(root))
    assert {p[:2] for p in paths if len(p) == 2} >= {
        ("lb", "list"), ("lb", "show"), ("lb", "create"), ("lb", "update"), ("lb", "delete"),
        ("listener", "add"), ("listener", "update"), ("listener", "remove"),
        ("pool", "add"), ("pool", "update"), ("pool", "remove"),
        ("member", "add"), ("member", "update"), ("member", "remove"),
    }  # fmt: skip
    assert {p for p in paths if len(p) == 1} >= {("serve",), ("health-worker",), ("stats",), ("watch",)}
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(root, [*path, "--help"], prog_name="quantix-lb")
        assert result.exit_code == 0, (path, result.output)
        assert result.output.startswith(f"Usage: {' '.join(('quantix-lb', *path))} "), (path, result.output)
        command = root
        for name in path:
            command = command.commands[name]  # type: ignore[attr-defined]
        if (
            path
            and path[0] not in ("serve", "health-worker", "completion")
            and not isinstance(command, click.Group)
        ):
            # Every client command takes the connection options.
            assert "--url URL" in result.output and "QUANTIX_LB_URL" in result.output, path
            assert "-o, --output [table|json|yaml]" in result.output, path
    # The real entry point too, with the example in lb create's help.
    assert "--listener TCP:80:web" in cli(None, "lb", "create", "--help")


def test_serve_and_health_worker_keep_their_options() -> None:
    from quantix_lb.cli import cli as root

    def options(name: str) -> set[str]:
        command = root.commands[name]
        return {opt for p in command.params for opt in p.opts if opt.startswith("--")} - {"--help"}

    assert options("serve") == {
        "--data-dir", "--grpc-addr", "--http-addr", "--ovn-nb", "--auth-tokens", "--insecure",
        "--cors-origin", "--reconcile-interval", "--ovs-rundir", "--no-local-worker", "--tls-cert",
        "--tls-key", "--tls-ca",
        "--allow-local-addresses", "--probe-from-host",
    }  # fmt: skip
    assert options("health-worker") == {
        "--control-plane", "--node-id", "--token-file", "--capacity", "--project-budget", "--ovs-rundir",
        "--probe-from-host", "--no-stats", "--tls-ca", "--tls-cert", "--tls-key",
    }  # fmt: skip
    assert {opt for p in root.params for opt in p.opts} >= {"--log-format", "--log-level", "--version"}
    # A usage error of serve exits 2, as before.
    assert "Missing option '--control-plane'" in cli(None, "health-worker", "--node-id", "x", code=2)


def test_version() -> None:
    assert cli(None, "--version") == f"quantix-lb {importlib.metadata.version('quantix-lb')}\n"


def test_shell_completion(srv: Server) -> None:
    for shell in ("bash", "zsh", "fish"):
        script = cli(None, "completion", shell)
        assert "_QUANTIX_LB_COMPLETE" in script and "quantix-lb" in script, shell
    assert cli(None, "completion", "bash") == cli(None, _QUANTIX_LB_COMPLETE="bash_source")

    def complete(words: str) -> list[str]:
        out = cli(
            srv,
            _QUANTIX_LB_COMPLETE="bash_complete",
            COMP_WORDS=words,
            COMP_CWORD=str(len(words.split()) - 1),
        )
        return [line.split(",", 1)[1] for line in out.splitlines()]

    assert complete("quantix-lb li") == ["listener"]
    assert set(complete("quantix-lb lb s")) == {"show"}
    lb = create_web_lb(srv, "cli-completed", "net-cli-8", "192.168.80.100")
    assert complete("quantix-lb lb show cli-comp") == ["cli-completed"]  # LB names come from the server
    assert complete(f"quantix-lb stats {lb['id'][:12]}") == [lb["id"]]


def test_the_client_commands_import_nothing_of_the_server(srv: Server) -> None:
    script = f"""
import sys
from quantix_lb.cli import main
for argv in (["lb", "list", "--help"], ["lb", "list", "--url", {srv.http_url!r}]):
    try:
        main(argv)
    except SystemExit as exc:
        assert exc.code == 0, exc.code
server = ("ovs", "uvicorn", "starlette", "sqlite_utils", "structlog", "quantix_lb.service",
          "quantix_lb.store", "quantix_lb.model", "quantix_lb.ovn", "quantix_lb.health", "quantix_lb.server",
          "quantix_lb.api")
print("LOADED", sorted(m for m in sys.modules if m.startswith(server)))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=_env()
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "LOADED []", done.stdout[-2000:]
