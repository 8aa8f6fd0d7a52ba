"""TLS on both listeners (issue 9): tokens and the workers' session never travel in clear text."""

from __future__ import annotations

import json
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from conftest import QUANTIX_LB, Server, wait_for
from limiquantix.network.v1 import network_service_pb2 as pb
from limiquantix.network.v1 import network_service_pb2_grpc as pb_grpc

TOKENS = {"tok-admin": {"role": "admin"}, "tok-worker": {"role": "worker"}}
ADMIN = (("authorization", "Bearer tok-admin"),)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def _issue(name: str, cn: str, extensions: str, cwd: Path) -> None:
    """A key and a certificate for `name`, signed by the test CA."""
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=cwd)  # fmt: skip
    (cwd / f"{name}.ext").write_text(extensions)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=cwd)  # fmt: skip


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=test CA", cwd=d)  # fmt: skip
    _issue(
        "server", "localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n", d
    )
    _issue("worker", "worker", "extendedKeyUsage=clientAuth\n", d)
    return d


@pytest.fixture(scope="module")
def srv(certs: Path) -> Iterator[Server]:
    (certs / "tokens.json").write_text(json.dumps(TOKENS))
    args = ["--auth-tokens", str(certs / "tokens.json"), "--tls-cert", str(certs / "server.pem"),
            "--tls-key", str(certs / "server.key"), "--tls-ca", str(certs / "ca.pem")]  # fmt: skip
    server = Server(certs / "data", args, local_worker=True).start()
    try:
        yield server
    finally:
        server.stop()


def _trust(certs: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certs / "ca.pem"))


def _channel(srv: Server, certs: Path, client_cert: bool = True) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(certs / "ca.pem").read_bytes(),
        private_key=(certs / "worker.key").read_bytes() if client_cert else None,
        certificate_chain=(certs / "worker.pem").read_bytes() if client_cert else None,
    )
    return grpc.secure_channel(srv.grpc_addr, credentials)


def test_http_is_served_over_tls_only(srv: Server, certs: Path) -> None:
    assert srv.http_url.startswith("https://")
    ready = httpx.get(f"{srv.http_url}/healthz", verify=_trust(certs))
    assert ready.status_code == 200, ready.text
    listed = httpx.get(
        f"{srv.http_url}/api/v1/load-balancers",
        headers={"authorization": "Bearer tok-admin"},
        verify=_trust(certs),
    )
    assert listed.status_code == 200, listed.text
    with pytest.raises(httpx.HTTPError):
        httpx.get(srv.http_url.replace("https://", "http://") + "/healthz", timeout=5)


def test_grpc_takes_tls_with_a_client_certificate(srv: Server, certs: Path) -> None:
    with _channel(srv, certs) as channel:
        stub = pb_grpc.LoadBalancerServiceStub(channel)
        stub.ListLoadBalancers(pb.ListLoadBalancersRequest(), metadata=ADMIN, timeout=10)
    for channel in (_channel(srv, certs, client_cert=False), grpc.insecure_channel(srv.grpc_addr)):
        with channel, pytest.raises(grpc.RpcError) as info:
            pb_grpc.LoadBalancerServiceStub(channel).ListLoadBalancers(
                pb.ListLoadBalancersRequest(), metadata=ADMIN, timeout=5
            )
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_workers_connect_over_tls(srv: Server, certs: Path) -> None:
    def workers() -> int:
        ready = httpx.get(f"{srv.http_url}/readyz", verify=_trust(certs)).json()
        return ready["health_workers"]

    wait_for(lambda: workers() >= 1, 20, "the local worker's session (over its unix socket)")
    remote = subprocess.Popen(
        [*QUANTIX_LB, "health-worker", "--control-plane", srv.grpc_addr, "--node-id", "remote",
         "--tls-ca", str(certs / "ca.pem"), "--tls-cert", str(certs / "worker.pem"),
         "--tls-key", str(certs / "worker.key"), "--no-stats"],
        env={"QUANTIX_LB_WORKER_TOKEN": "tok-worker", "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: workers() == 2, 20, "the remote worker's TLS session")
    finally:
        remote.terminate()
        remote.wait(10)


def test_tokens_are_never_taken_in_clear_text(certs: Path, tmp_path: Path) -> None:
    argv = [*QUANTIX_LB, "serve", "--data-dir", str(tmp_path / "data"), "--no-local-worker",
            "--auth-tokens", str(certs / "tokens.json"),
            "--grpc-addr", "127.0.0.1:0", "--http-addr", "0.0.0.0:0"]  # fmt: skip
    refused = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0
    assert "refusing to take bearer tokens in clear text on 0.0.0.0" in refused.stderr, refused.stderr
    assert not (tmp_path / "data").exists()
