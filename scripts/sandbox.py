"""A full local OVN with a demo network and quantix-lb in front of it (see scripts/sandbox)."""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import urllib.request
from pathlib import Path

from quantix_lb.testing import Server, ovn_testbed

NET = "demo-net"
VIP = "10.0.0.100"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--http-addr", default="127.0.0.1:8080")
    parser.add_argument("--grpc-addr", default="127.0.0.1:9090")
    parser.add_argument("--check", action="store_true", help="curl the VIP from the client, then tear down")
    args = parser.parse_args()
    missing = ovn_testbed.missing_prerequisites()
    if missing:
        print("sandbox: " + "; ".join(missing), file=sys.stderr)
        return 1
    stack = ovn_testbed.OvnStack()
    serve = None
    data_dir = Path(tempfile.mkdtemp(prefix="qlb-sandbox-"))
    try:
        stack.start()
        topo = ovn_testbed.lb_topology(stack, NET, prefix="web")
        stack.nbctl("set", "logical_switch", NET, "other_config:subnet=10.0.0.0/24")
        client, backends = topo.client, topo.backends
        # The local worker checks the members from a probe port of its own on the demo network.
        serve = Server(
            data_dir,
            ["--ovn-nb", stack.nb_remote, "--ovs-rundir", str(stack.rundir)],
            local_worker=True,
            grpc_addr=args.grpc_addr,
            http_url=f"http://{args.http_addr}",
        ).start(timeout=30)
        api = serve.http_url
        body = {
            "name": "demo-lb", "project_id": "demo", "network_id": NET, "vip_address": VIP,
            "listeners": [{"protocol": "HTTP", "port": 80, "default_pool": {
                "algorithm": "ROUND_ROBIN", "members": [{"address": b.ip, "port": 8080} for b in backends],
                "health_monitor": {"type": "HTTP", "delay": 1, "timeout": 1, "url_path": "/"}}}],
        }  # fmt: skip
        request = urllib.request.Request(
            f"{api}/api/v1/load-balancers", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as resp:
            lb = json.load(resp)
        print(f"\nload balancer {lb['id']} is {lb['status']['provisioning_status']} on VIP {VIP}:80")
        print("\nTry:")
        print(f"  ip netns exec {client.netns} curl -s http://{VIP}/      # answered by web1, web2 or web3")
        print(f"  curl -s {api}/api/v1/load-balancers/{lb['id']}")
        print(f"  ovn-nbctl --db={stack.nb_remote} lb-list")
        if args.check:
            ovn_testbed.wait_until(lambda: client.http_get(f"http://{VIP}/")[0].ok, 10.0, message="the VIP")
            answers = {r.body for r in client.http_get(f"http://{VIP}/", count=30)}
            print(f"\n30 requests answered by: {', '.join(sorted(answers))}")

            def health() -> list[str]:
                with opener.open(f"{api}/api/v1/load-balancers/{lb['id']}", timeout=10) as resp:
                    pools = json.load(resp)["spec"]["pools"]
                return [m["operating_status"] for p in pools for m in p["members"]]

            ovn_testbed.wait_until(lambda: health() == ["ONLINE"] * 3, 20.0, message="members ONLINE")
            print("members checked from the worker's probe port: " + ", ".join(health()))
            return 0 if answers == {"web1", "web2", "web3"} else 1
        print("\nCtrl-C tears everything down.")
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
        return 0
    finally:
        if serve:
            serve.stop()
        stack.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
