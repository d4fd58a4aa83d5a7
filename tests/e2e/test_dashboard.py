"""The web dashboard in a real browser: Playwright drives Debian's Chromium headless against a live control plane.

Signs in with tokens of different roles, opens every page (no console errors, no request to any other host),
approves a version, reads a rejected version's failing gate, and checks that a viewer gets no approve button
and that a forced request is refused. ``pytest --screenshots`` saves a PNG of each page under
``bench/results/screenshots/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from tests.api_harness import serve
from tests.conftest import need_service

SHOTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "screenshots"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
pytestmark = pytest.mark.slow


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
        if path:
            return path
    need_service("chromium is not installed (make test installs it: apt-get install -y chromium)")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A workspace with v1 (gates passed: validated) and v2 (a gate failed: rejected) of the regression example,
    users of every role, and the control plane on a loopback port."""
    import yaml

    from shipyard.config import Settings
    from shipyard.pipeline.examples import write_example
    from shipyard.pipeline.runner import run_pipeline
    from shipyard.workspace import Workspace

    root = tmp_path_factory.mktemp("dash") / "ws"
    settings = Settings(db_url=f"sqlite:///{root.parent / 'shipyard.db'}", actor="alice")
    Workspace.init(root, settings=settings).close()
    write_example(root, "regression")
    ws = Workspace.open(root, settings=settings)
    run_pipeline(ws)  # v1: every gate passes -> validated, author alice
    cfg = yaml.safe_load((root / "shipyard.yaml").read_text())
    cfg["gates"] = [*cfg["gates"], "r2 >= 0.99"]
    (root / "shipyard.yaml").write_text(yaml.safe_dump(cfg))
    ws.close()
    ws = Workspace.open(root, settings=settings)
    try:
        run_pipeline(ws)  # v2: r2 >= 0.99 fails -> rejected
    except Exception as exc:  # the run reports the failed gate as a CheckFailedError
        if type(exc).__name__ != "CheckFailedError":
            raise
    tokens = {}
    for name, role in (("alice", "contributor"), ("ann", "approver"), ("vic", "viewer"), ("dee", "deployer"),
                       ("ada", "admin")):
        ws.users.add(name, role)
        tokens[name] = ws.users.create_token(name).token
    from shipyard.api.app import create_app

    with serve(create_app(ws)) as url:
        yield {"url": url, "tokens": tokens, "ws": ws, "model": ws.config.model}
    ws.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright = pytest.importorskip("playwright.sync_api")
    exe = _chromium()
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class Page:
    """A signed-in browser tab that records console errors and every host it asked."""

    def __init__(self, browser: Any, site: dict[str, Any], user: str) -> None:
        self.site, self.ctx = site, browser.new_context(viewport={"width": 1360, "height": 900})
        self.page = self.ctx.new_page()
        self.page.set_default_timeout(90_000)  # two shared cores under a parallel test run can be slow
        self.errors: list[str] = []
        self.hosts: set[str] = set()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.hosts.add(urlparse(r.url).netloc) if r.url.startswith("http") else None)
        self.page.goto(site["url"] + "/")
        self.page.fill("#token", site["tokens"][user])
        self.page.click("#login button[type=submit]")
        self.page.wait_for_selector("#whoami")

    def open(self, hash_: str, ready: str) -> Any:
        self.page.goto(f"{self.site['url']}/#{hash_}")
        self.page.wait_for_selector(ready)
        return self.page

    def close(self) -> None:
        self.ctx.close()


def shot(page: Any, request: pytest.FixtureRequest, name: str) -> None:
    if request.config.getoption("--screenshots", default=False):
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_sign_in_and_open_every_page(site: dict[str, Any], browser: Any, request: pytest.FixtureRequest) -> None:
    p = Page(browser, site, "ada")
    m = site["model"]
    pages = [("/", "text=Overview"), ("/models", "h1:has-text('Models')"),
             (f"/models/{m}", f"h1:has-text('Model {m}')"),
             (f"/models/{m}/1", "text=Gates"), ("/approvals", "h1:has-text('Approvals')"),
             ("/endpoints", "h1:has-text('Endpoints')"), ("/monitoring", "h1:has-text('Monitoring')"),
             ("/audit", "#verify .badge")]
    for hash_, ready in pages:
        page = p.open(hash_, ready)
        # every API call the page made has answered (api.js marks <html data-busy> while any is pending);
        # not "networkidle", which never came once in CI on two loaded cores
        page.wait_for_function("() => !document.documentElement.hasAttribute('data-busy')")
        shot(page, request, hash_.strip("/").replace("/", "-") or "overview")
    assert p.errors == [], p.errors
    assert p.hosts == {urlparse(site["url"]).netloc}, p.hosts
    audit = p.page
    assert "chain intact" in audit.inner_text("#verify")
    p.close()


def test_rejected_version_says_which_gate_failed_and_why(site: dict[str, Any], browser: Any) -> None:
    p = Page(browser, site, "vic")
    page = p.open(f"/models/{site['model']}/2", ".gate-result")
    failed = page.locator(".gate-result.fail").all_inner_texts()
    assert len(failed) == 1 and failed[0].startswith("failed: r2 is ") and "needs >= 0.99" in failed[0], failed
    assert "rejected" in page.inner_text("h1")
    assert p.errors == []
    p.close()


def test_viewer_sees_no_approve_button_and_a_forced_request_is_refused(site: dict[str, Any], browser: Any) -> None:
    p = Page(browser, site, "vic")
    page = p.open("/approvals", "table, p.muted")
    page.wait_for_selector(".no-approve")
    assert page.locator("button.approve").count() == 0
    status = page.evaluate("""async (ref) => {
        const r = await fetch('/api/v1/approvals', {method: 'POST', headers: {'Content-Type': 'application/json',
            Authorization: 'Bearer ' + sessionStorage.getItem('shipyard.token')},
            body: JSON.stringify({ref, decision: 'approve', reason: 'forced'})});
        return [r.status, (await r.json()).error.type];
    }""", f"{site['model']}:1")
    assert status[0] == 403, status
    assert site["ws"].models.get_version(f"{site['model']}:1").stage == "validated"
    p.close()


def test_the_author_is_told_why_they_cannot_approve(site: dict[str, Any], browser: Any) -> None:
    # alice registered v1 (the pipeline ran as her); she is a contributor here, so she has no approve permission
    # either — make her an approver to see the separation-of-duties rule itself
    site["ws"].users.set_role("alice", "approver")
    p = Page(browser, site, "alice")
    page = p.open(f"/models/{site['model']}/1", "#decision")
    assert "separation of duties" in page.inner_text("#decision")
    assert page.locator("#decision button.approve").count() == 0
    p.close()


def test_an_approver_approves_from_the_queue(site: dict[str, Any], browser: Any,
                                            request: pytest.FixtureRequest) -> None:
    p = Page(browser, site, "ann")
    page = p.open("/approvals", "button.approve")
    shot(page, request, "approvals-queue")
    page.click("button.approve")
    page.wait_for_selector("text=Nothing waits for approval.")
    assert site["ws"].models.get_version(f"{site['model']}:1").stage == "approved"
    assert p.errors == []
    p.close()


def test_a_rollout_advances_on_the_endpoint_page(site: dict[str, Any], browser: Any,
                                                 request: pytest.FixtureRequest) -> None:
    """The endpoint page refreshes by itself: a canary step taken meanwhile (here by a deployer's promote)
    shows in the split and the rollout panel without a reload; a deployer sees the controls, a viewer does not."""
    from tests.builders import approve

    ws, m = site["ws"], site["model"]
    v1 = ws.models.get_version(f"{m}:1")
    ws.endpoints.deploy(f"{m}:1", "dash-ep")  # v1 was approved by the queue test
    data = ws.models.load_artifact(f"{m}:1")
    v = ws.models.register(m, data, v1.flavor, signature=v1.signature).version
    approve(ws, f"{m}:{v}")
    started = ws.rollouts.deploy(f"{m}:{v}", "dash-ep", strategy="canary")
    assert started.rollout is not None
    viewer = Page(browser, site, "vic")
    page = viewer.open("/endpoints/dash-ep", "#rollout .badge")
    assert page.locator("#rollout-controls button").count() == 0
    viewer.close()
    p = Page(browser, site, "dee")
    page = p.open("/endpoints/dash-ep", "#rollout .badge")
    first = page.inner_text("#routing")
    assert page.locator("#rollout-controls button", has_text="Promote").count() == 1
    ws.rollouts.command("dash-ep", "promote", "looks good")  # the next canary step, outside the page
    page.wait_for_function("(before) => document.querySelector('#routing').innerText !== before", arg=first,
                           timeout=30_000)
    assert "progressing" in page.inner_text("#rollout") or "promoted" in page.inner_text("#rollout")
    shot(page, request, "endpoint-rollout")
    assert p.errors == [], p.errors
    p.close()
