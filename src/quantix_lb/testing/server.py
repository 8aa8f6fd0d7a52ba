"""A real `quantix-lb serve` process on loopback, for tests, scripts and benchmarks."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import grpc

from limiquantix.network.v1 import network_service_pb2_grpc as pb_grpc

QUANTIX_LB = [sys.executable, "-m", "quantix_lb"]
NBCTL = shutil.which("ovn-nbctl") or "/usr/bin/ovn-nbctl"


@dataclass
class Server:
    """A running control plane; `stop`/`start` restart it on the same data dir.

    It logs JSON lines to `log_lines` (every run's); `seen` holds when
    (time.monotonic()) each event was first logged in this run, and `wait_event`
    waits for one."""

    data_dir: Path
    extra_args: list[str] = field(default_factory=list)
    # Off unless asked for: a health worker would probe member addresses, and
    # tests may send traffic only to loopback and their own namespaces.
    local_worker: bool = False
    proc: subprocess.Popen[str] | None = None
    grpc_addr: str = ""  # HOST:PORT or unix:PATH; port 0 (the default): any free port
    http_url: str = ""
    log_lines: list[str] = field(default_factory=list)
    new_session: bool = False  # a process group of its own, as a shell starts it
    started_at: float = 0.0  # time.monotonic() of the last start
    seen: dict[str, float] = field(default_factory=dict)
    _channel: grpc.Channel | None = None
    _first: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _events: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def start(self, timeout: float = 20.0) -> Self:
        grpc_addr = self.grpc_addr or "127.0.0.1:0"
        http_addr = self.http_url.removeprefix("http://") or "127.0.0.1:0"
        no_worker = (
            [] if self.local_worker or "--no-local-worker" in self.extra_args else ["--no-local-worker"]
        )
        self.seen.clear()
        self._first.clear()
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            [*QUANTIX_LB, "--log-format", "json", "serve", "--data-dir", str(self.data_dir),
             "--grpc-addr", grpc_addr, "--http-addr", http_addr, *self.extra_args, *no_worker],
            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=self.new_session,
        )  # fmt: skip
        threading.Thread(target=self._pump, args=(self.proc,), daemon=True).start()
        try:
            ready = self.wait_event("serve.ready", timeout)
        except (TimeoutError, EOFError):
            self.stop()
            raise RuntimeError("serve did not become ready:\n" + "".join(self.log_lines[-30:])) from None
        self.grpc_addr = ready["grpc"]
        self.http_url = ("https://" if ready.get("tls") else "http://") + ready["http"]
        return self

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr
        for line in proc.stderr:
            self.log_lines.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue
            name = event.get("event") if isinstance(event, dict) else None
            if isinstance(name, str) and name not in self.seen and proc is self.proc:
                with self._events:
                    self.seen[name] = time.monotonic()
                    self._first[name] = event
                    self._events.notify_all()
        with self._events:
            self._events.notify_all()  # the process is gone: no waiter waits for nothing

    def wait_event(self, name: str, timeout: float) -> dict[str, Any]:
        """The first `name` event of this run; TimeoutError after `timeout` seconds,
        EOFError if serve exits before."""
        deadline = time.monotonic() + timeout
        with self._events:
            while name not in self.seen:
                left = deadline - time.monotonic()
                if self.proc is None or self.proc.poll() is not None:
                    raise EOFError(f"serve exited before {name}")
                if left <= 0:
                    raise TimeoutError(f"no {name} within {timeout} s")
                self._events.wait(min(left, 0.1))
            return self._first[name]

    def child_pids(self) -> list[int]:
        """The processes serve started that still run (its direct children)."""
        if self.proc is None:
            return []
        pids: list[int] = []
        for children in Path(f"/proc/{self.proc.pid}/task").glob("*/children"):
            try:
                pids += [int(pid) for pid in children.read_text().split()]
            except OSError:  # the thread or the process has just ended
                continue
        return sorted(set(pids))

    @property
    def nb_remote(self) -> str:
        """The embedded Northbound's socket (serve without --ovn-nb)."""
        return f"unix:{self.data_dir / 'ovn' / 'nb.sock'}"

    def nbctl(self, *args: str) -> str:
        """ovn-nbctl against the embedded Northbound; fails with its error text."""
        done = subprocess.run(
            [NBCTL, f"--db={self.nb_remote}", "--timeout=10", *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if done.returncode != 0:
            raise RuntimeError(f"ovn-nbctl {' '.join(args)}: {done.stderr}")
        return done.stdout

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        if self._channel:
            self._channel.close()
            self._channel = None
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code

    @property
    def channel(self) -> grpc.Channel:
        if self._channel is None:
            self._channel = grpc.insecure_channel(self.grpc_addr)
        return self._channel

    @property
    def stub(self) -> pb_grpc.LoadBalancerServiceStub:
        return pb_grpc.LoadBalancerServiceStub(self.channel)
