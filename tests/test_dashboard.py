"""The dashboard at `/`: how it is served, and what a person does with it in a real browser
(Debian's chromium, driven by Playwright) against a real `serve` with its local health worker
probing HTTP backends on loopback.

Screenshots of each step are kept under $QUANTIX_LB_ARTIFACTS/dashboard (default
/tmp/quantix-lb-artifacts/dashboard)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from test_health_local import Backend

from conftest import LOOPBACK_BACKENDS, ROOT, Server
from quantix.lb.v1 import health_worker_pb2 as wire
from quantix_lb.api import web
from quantix_lb.testing.worker import FakeWorker

os.environ["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"  # Debian's chromium, never a download

from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

DIST = ROOT / "web" / "dist"
CHROMIUM = "/usr/bin/chromium"
BUNDLE_BUDGET = 300 * 1024  # JavaScript shipped to the browser, gzipped
ARTIFACTS = Path(os.environ.get("QUANTIX_LB_ARTIFACTS", "/tmp/quantix-lb-artifacts")) / "dashboard"
NOT_BUILT = f"web/dist is not built ({DIST}): run scripts/setup"
STEP = 10_000  # ms a page may take to show what the server just did


def _built() -> Path:
    assert (DIST / "index.html").is_file(), NOT_BUILT
    return DIST


# --- served -----------------------------------------------------------------------------


def test_bundle_fits_the_budget():
    scripts = sorted((_built() / "assets").glob("*.js"))
    assert scripts, NOT_BUILT
    size = sum(len(gzip.compress(p.read_bytes(), 9)) for p in scripts)
    print(f"dashboard JavaScript: {size / 1024:.1f} KB gzipped ({', '.join(p.name for p in scripts)})")
    assert size <= BUNDLE_BUDGET, (
        f"{size / 1024:.1f} KB gzipped is over the {BUNDLE_BUDGET // 1024} KB budget"
    )


def test_page_and_assets_are_served_beside_the_api(server: Server):
    _built()
    http = httpx.Client(base_url=server.http_url, timeout=10)
    page = http.get("/")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page.text)
    assert {Path(a).suffix for a in assets} == {".js", ".css"}, assets
    for path in assets:
        asset = http.get(path, headers={"Accept-Encoding": "gzip"})
        assert asset.status_code == 200, path
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        kind = "text/javascript" if path.endswith(".js") else "text/css"
        assert asset.headers["content-type"].startswith(kind), asset.headers["content-type"]
        assert asset.headers["content-encoding"] == "gzip"
        assert asset.content == (DIST / path.lstrip("/")).read_bytes()
    assert http.get("/assets/main-NOSUCHHASH.js").status_code == 404
    # The API keeps its paths and its JSON answers, unknown ones included.
    assert http.get("/healthz").json()["status"] == "SERVING"
    assert http.get("/api/v1/load-balancers").status_code == 200
    unknown = http.get("/api/v1/nothing-here")
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("application/json")
    assert http.post("/", content=b"{}").status_code == 405


def test_without_a_build_the_page_says_how_to_build_it(tmp_path: Path):
    app = Starlette(routes=web.routes(tmp_path / "dist"))

    async def get(*paths: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://page"
        ) as client:
            return [await client.get(p) for p in paths]

    page, asset = asyncio.run(get("/", "/assets/main-ABC.js"))
    assert page.status_code == 503
    assert page.headers["content-type"].startswith("text/plain")
    assert "scripts/setup" in page.text
    assert asset.status_code == 404


# --- in a browser -------------------------------------------------------------------------


expect.set_options(timeout=STEP)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), (
        f"{CHROMIUM} is missing: run scripts/setup (it installs Debian's chromium)"
    )
    _built()
    with sync_playwright() as pw:
        # Flags: root needs --no-sandbox; the rest keep chromium off the (closed) network.
        quiet = ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic", *quiet],
        )
        try:
            yield b
        finally:
            b.close()


class Console:
    """Every console error and uncaught exception of a page; `expecting` names those a
    step provokes on purpose (an answer of 400, a server that is down)."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        self._allowed: list[re.Pattern[str]] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error" and not any(p.search(msg.text) for p in self._allowed):
            self.errors.append(msg.text)

    @contextlib.contextmanager
    def expecting(self, pattern: str) -> Iterator[None]:
        allowed = re.compile(pattern)
        self._allowed.append(allowed)
        try:
            yield
        finally:
            self._allowed.remove(allowed)

    def check(self) -> None:
        assert not self.errors, f"browser console errors: {self.errors}"


class Steps:
    """Screenshots of each step, numbered, kept under ARTIFACTS/<test>."""

    def __init__(self, page: Page, name: str) -> None:
        self.page = page
        self.dir = ARTIFACTS / name
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.png"):
            old.unlink()
        self.n = 0
        print(f"screenshots: {self.dir}")

    def shot(self, what: str) -> None:
        self.n += 1
        self.page.evaluate("window.scrollTo(0, 0)")  # the sticky header where it belongs
        self.page.screenshot(path=str(self.dir / f"{self.n:02d}-{what}.png"), full_page=True)


@pytest.fixture
def tab(browser: Browser, request: pytest.FixtureRequest) -> Iterator[tuple[Page, Console, Steps]]:
    """A fresh browser context's page, its console and its screenshots."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(STEP)
    console = Console(page)
    steps = Steps(page, request.node.name)
    try:
        yield page, console, steps
    finally:
        context.close()


def member_row(page: Page, port: int):
    return page.locator(f'[data-testid="member-row"][data-address="127.0.0.1:{port}"]')


def stats_report(vip: str, active: dict[int, int], total: dict[int, int]) -> wire.SessionRequest:
    backends = [
        wire.BackendStats(address="127.0.0.1", port=p, active=active[p], total=total[p]) for p in active
    ]
    frontend = wire.Frontend(protocol="tcp", vip=vip, port=80)
    report = wire.StatsReport(
        available=True, frontends=[wire.FrontendStats(frontend=frontend, backends=backends)]
    )
    return wire.SessionRequest(stats=report)


def test_dashboard_manages_a_load_balancer_live(make_server, tab):
    page, console, steps = tab
    a, b = Backend(), Backend()
    a.start()
    b.start()
    worker: FakeWorker | None = None
    try:
        srv = make_server(*LOOPBACK_BACKENDS, local_worker=True)
        page.goto(srv.http_url + "/")
        expect(page.get_by_test_id("connection-state")).to_have_text("● live")
        expect(page.get_by_test_id("empty")).to_have_text("No load balancers yet.")
        steps.shot("empty")

        # Create through the form; a bad port comes back as a field violation next to it.
        page.get_by_test_id("new-lb").click()
        form = page.get_by_test_id("create-form")
        form.get_by_label("Name").first.fill("web-lb")
        form.get_by_label("Project").fill("proj-demo")
        form.get_by_label("Network").fill("net-demo")
        form.get_by_label("VIP (optional)").fill("192.0.2.10")
        form.locator('input[name="listener-port"]').fill("80")
        member = form.get_by_test_id("member-editor")
        member.locator('input[name="address"]').fill("127.0.0.1")
        member.locator('input[name="port"]').fill("70000")
        form.locator('select[name="monitor-type"]').select_option(label="HTTP")
        form.locator('input[name="delay"]').fill("0.2")
        form.locator('input[name="timeout"]').fill("0.1")
        form.locator('input[name="max-retries"]').fill("1")
        form.locator('input[name="healthy-threshold"]').fill("1")
        form.locator('input[name="url-path"]').fill("/health")
        with console.expecting(r"status of 400"):
            page.get_by_test_id("create-submit").click()
            error = member.locator('[data-testid="field-error"][data-field="spec.pools[0].members[0].port"]')
            expect(error).to_contain_text("65535")
        steps.shot("field-violation")
        member.locator('input[name="port"]').fill(str(a.port))
        page.get_by_test_id("create-submit").click()

        # The detail view: the member turns ONLINE once checked.
        detail = page.get_by_test_id("detail")
        expect(detail.get_by_test_id("detail-name")).to_have_text("web-lb")
        expect(member_row(page, a.port).get_by_test_id("member-status")).to_have_text("ONLINE")
        expect(detail.get_by_test_id("lb-phase")).to_have_text("ACTIVE")
        # No worker reads a data path here: the page says why, and shows no made-up zero.
        expect(page.get_by_test_id("stats-unavailable")).to_contain_text("Statistics unavailable: ")
        expect(page.get_by_test_id("plot-active-value")).to_have_text("—")
        steps.shot("created")

        # Listed, with search and project filter.
        page.get_by_text("← All load balancers").click()
        row = page.locator('[data-testid="lb-row"][data-lb-name="web-lb"]')
        expect(row).to_contain_text("192.0.2.10")
        expect(row).to_contain_text("net-demo")
        expect(row).to_contain_text("TCP 80")
        expect(row.get_by_test_id("lb-members")).to_have_text("1/1")
        page.get_by_test_id("project-filter").select_option("proj-demo")
        page.get_by_test_id("search").fill("no-such-lb")
        expect(page.get_by_test_id("empty")).to_have_text("No load balancer matches.")
        page.get_by_test_id("search").fill("192.0.2")
        expect(row).to_be_visible()
        steps.shot("listed")

        # Add a second member.
        row.click()
        page.get_by_test_id("add-member-open").click()
        add = page.get_by_test_id("add-member")
        add.locator('input[name="address"]').fill("127.0.0.1")
        add.locator('input[name="port"]').fill(str(b.port))
        add.locator('input[name="weight"]').fill("2")
        page.get_by_test_id("add-member-submit").click()
        expect(member_row(page, b.port).get_by_test_id("member-status")).to_have_text("ONLINE")
        expect(member_row(page, b.port).get_by_test_id("member-weight")).to_have_value("2")
        steps.shot("member-added")

        # Its backend stops: ERROR, with the failed check's reason; it returns: ONLINE.
        b.stop()
        expect(member_row(page, b.port).get_by_test_id("member-status")).to_have_text("ERROR")
        expect(member_row(page, b.port).get_by_test_id("member-failure")).not_to_be_empty()
        expect(page.get_by_test_id("lb-operating")).to_have_text("DEGRADED")
        expect(page.get_by_test_id("count-members")).to_have_text("1/2")
        steps.shot("member-error")
        b.start()
        expect(member_row(page, b.port).get_by_test_id("member-status")).to_have_text("ONLINE")
        expect(page.get_by_test_id("lb-operating")).to_have_text("ONLINE")
        steps.shot("member-online")

        # Admin state: drain, disable, enable again.
        mb = member_row(page, b.port)
        mb.get_by_test_id("member-drain").click()
        expect(mb.get_by_test_id("member-admin")).to_have_text("draining")
        expect(mb.get_by_test_id("member-status")).to_have_text("DRAINING")
        mb.get_by_test_id("member-disable").click()
        expect(mb.get_by_test_id("member-admin")).to_have_text("disabled")
        expect(mb.get_by_test_id("member-status")).to_have_text("OFFLINE")
        mb.get_by_test_id("member-enable").click()
        expect(mb.get_by_test_id("member-admin")).to_have_text("enabled")
        expect(mb.get_by_test_id("member-status")).to_have_text("ONLINE")

        # Statistics move: a worker session reports the VIP's connections (as a node's
        # conntrack would), and the figures and plot follow over the watch stream.
        worker = FakeWorker(srv.grpc_addr, "dashboard-node")
        worker.repeat(stats_report("192.0.2.10", {a.port: 2, b.port: 1}, {a.port: 5, b.port: 3}))
        expect(page.get_by_test_id("stats-unavailable")).to_have_count(0)
        expect(page.get_by_test_id("plot-active-value")).to_have_text("3")
        expect(page.get_by_test_id("stat-total")).to_have_text("8")
        expect(member_row(page, a.port).get_by_test_id("member-active")).to_have_text("2")
        worker.repeat(stats_report("192.0.2.10", {a.port: 4, b.port: 3}, {a.port: 25, b.port: 13}))
        expect(page.get_by_test_id("plot-active-value")).to_have_text("7")
        expect(page.get_by_test_id("stat-total")).to_have_text("38")
        expect(page.get_by_test_id("plot-rps-value")).not_to_have_text(re.compile(r"^(0\.0|—)$"))
        expect(page.locator('[data-testid="plot-active"] path')).to_have_count(1)
        expect(page.get_by_test_id("listener-row")).to_contain_text("7")
        steps.shot("statistics")
        worker.close()
        worker = None

        # The server goes away: the page says so, and comes back by itself.
        with console.expecting(r"ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|ERR_CONNECTION_RESET"):
            srv.stop()
            expect(page.get_by_test_id("connection-banner")).to_contain_text("Disconnected")
            expect(page.get_by_test_id("connection-state")).not_to_have_text("● live")
            steps.shot("disconnected")
            srv.start()
            expect(page.get_by_test_id("connection-state")).to_have_text("● live", timeout=20_000)
        expect(page.get_by_test_id("connection-banner")).to_have_count(0)
        expect(page.get_by_test_id("detail-name")).to_have_text("web-lb")

        # Delete, with confirmation.
        page.get_by_test_id("delete-lb").click()
        expect(page.get_by_test_id("confirm-dialog")).to_contain_text("Delete web-lb?")
        steps.shot("confirm-delete")
        page.get_by_test_id("confirm-delete").click()
        expect(page.get_by_test_id("empty")).to_be_visible()
        expect(page.get_by_test_id("count-lbs")).to_have_text("0")
        steps.shot("deleted")
        assert httpx.get(srv.http_url + "/api/v1/load-balancers").json()["load_balancers"] == []
        console.check()
    finally:
        if worker:
            worker.close()
        a.stop()
        b.stop()


def test_dashboard_asks_for_a_token(make_server, tab, tmp_path: Path):
    page, console, steps = tab
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"s3cr3t-admin": {"role": "admin"}}))
    srv = make_server("--auth-tokens", str(tokens))
    with console.expecting(r"status of 401"):
        page.goto(srv.http_url + "/")
        prompt = page.get_by_test_id("token-prompt")
        expect(prompt).to_be_visible()
        steps.shot("token-prompt")
        prompt.get_by_label("Token").fill("wrong")
        page.get_by_test_id("token-submit").click()
        expect(page.get_by_test_id("token-refused")).to_be_visible()
    prompt.get_by_label("Token").fill("s3cr3t-admin")
    page.get_by_test_id("token-submit").click()
    expect(prompt).to_have_count(0)
    expect(page.get_by_test_id("connection-state")).to_have_text("● live")
    # Kept for the tab: a reload does not ask again.
    page.reload()
    expect(page.get_by_test_id("connection-state")).to_have_text("● live")
    expect(prompt).to_have_count(0)
    assert page.evaluate("sessionStorage.getItem('quantix-lb.token')") == "s3cr3t-admin"
    steps.shot("signed-in")
    console.check()
