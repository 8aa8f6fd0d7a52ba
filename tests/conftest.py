"""Shared fixtures: a real `quantix-lb serve` process on loopback ports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from limiquantix.network.v1 import network_service_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parent.parent
QUANTIX_LB = [sys.executable, "-m", "quantix_lb"]

SEED_BODY = {
    "name": "web-lb",
    "project_id": "proj-123",
    "network_id": "net-456",
    "vip_address": "192.168.1.100",
    "listeners": [
        {
            "protocol": "TCP",
            "port": 80,
            "default_pool": {
                "algorithm": "ROUND_ROBIN",
                "members": [
                    {"address": "10.0.0.10", "port": 8080, "weight": 1},
                    {"address": "10.0.0.11", "port": 8080, "weight": 1},
                ],
                "health_monitor": {
                    "type": "HTTP",
                    "delay": 5,
                    "timeout": 3,
                    "max_retries": 3,
                    "http_method": "GET",
                    "url_path": "/health",
                    "expected_codes": "200",
                },
            },
        }
    ],
}


@dataclass
class Server:
    """A running control plane; `stop`/`start` restart it on the same data dir."""

    data_dir: Path
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None
    grpc_addr: str = ""
    http_url: str = ""
    log_lines: list[str] = field(default_factory=list)
    _channel: grpc.Channel | None = None

    def start(self, timeout: float = 20.0) -> Server:
        grpc_addr = self.grpc_addr or "127.0.0.1:0"
        http_addr = self.http_url.removeprefix("http://") or "127.0.0.1:0"
        self.proc = subprocess.Popen(
            [
                *QUANTIX_LB,
                "--log-format",
                "json",
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--grpc-addr",
                grpc_addr,
                "--http-addr",
                http_addr,
                *self.extra_args,
            ],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
        )
        ready = threading.Event()

        def pump() -> None:
            assert self.proc and self.proc.stderr
            for line in self.proc.stderr:
                self.log_lines.append(line)
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("event") == "serve.ready":
                    self.grpc_addr = event["grpc"]
                    self.http_url = "http://" + event["http"]
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("serve did not become ready:\n" + "".join(self.log_lines[-30:]))
        return self

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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[type[Server]]:
    """Factory for servers with extra arguments; all are stopped at the end."""
    started: list[Server] = []

    def factory(*extra: str, data_dir: Path | None = None) -> Server:
        srv = Server(data_dir or tmp_path / f"data{len(started)}", list(extra))
        started.append(srv)
        return srv.start()

    try:
        yield factory  # type: ignore[misc]
    finally:
        for srv in started:
            srv.stop()


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("NO_PROXY", "*")
