"""The seed's curl example, verbatim, against a running server."""

import json
import shutil
import subprocess

import pytest

from conftest import SEED_BODY

SEED_CURL_DATA = (
    '{"name":"web-lb","project_id":"proj-123","network_id":"net-456","vip_address":"192.168.1.100",'
    '"listeners":[{"protocol":"TCP","port":80,"default_pool":{"algorithm":"ROUND_ROBIN","members":'
    '[{"address":"10.0.0.10","port":8080,"weight":1},{"address":"10.0.0.11","port":8080,"weight":1}],'
    '"health_monitor":{"type":"HTTP","delay":5,"timeout":3,"max_retries":3,"http_method":"GET",'
    '"url_path":"/health","expected_codes":"200"}}}]}'
)


def test_seed_body_matches_curl_example():
    assert json.loads(SEED_CURL_DATA) == SEED_BODY


@pytest.mark.skipif(not shutil.which("curl"), reason="curl not installed")
def test_seed_curl_example_verbatim(server):
    out = subprocess.run(
        [
            "curl",
            "-sS",
            "-X",
            "POST",
            f"{server.http_url}/api/v1/load-balancers",
            "-H",
            "Content-Type: application/json",
            "-d",
            SEED_CURL_DATA,
            "-w",
            "\n%{http_code}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    body, _, status = out.rpartition("\n")
    assert status == "201"
    lb = json.loads(body)
    assert lb["id"].startswith("lb-")
    # Realized in the embedded OVN Northbound before the answer.
    assert lb["provisioning_status"] == "ACTIVE"
    (listener,) = lb["listeners"]
    assert listener["id"].startswith("lis-")
    pool = listener["default_pool"]
    assert pool["id"].startswith("pool-")
    assert pool["health_monitor"]["id"].startswith("hm-")
    assert [m["address"] for m in pool["members"]] == ["10.0.0.10", "10.0.0.11"]
    assert all(m["id"].startswith("mem-") for m in pool["members"])


def test_serve_starts_with_a_relative_data_dir(tmp_path):
    """The README's run command uses ./data: relative paths must work, embedded NB included."""
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "quantix_lb", "--log-format", "json", "serve", "--data-dir", "data",
         "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--no-local-worker"],
        cwd=tmp_path, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if '"serve.ready"' in line:
                break
        else:
            raise AssertionError("serve exited before it was ready")
        assert (tmp_path / "data" / "ovn" / "nb.sock").exists()
    finally:
        proc.terminate()
        proc.wait(15)
