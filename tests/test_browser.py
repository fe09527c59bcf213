"""The pages in a real headless Chromium (Debian's chromium, driven by Playwright; no
browser download): a kill triggered here appears with its chart, a program is restarted
with its button, requests without credentials are refused. Screenshots are kept in
test-artifacts/ (git-ignored)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from oomkit.web.programs import CtlPrograms
from oomkit.web.settings import WebSettings
from tests.conftest import require_memcg
from tests.livestack import daemon, oom_kill, supervisor
from tests.webserver import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

CHROMIUM = os.environ.get("OOMKIT_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts" / "browser"
TOKEN = "browser-test-token-0123456789"
PROGRAMS = """
[programs.sleeper]
command = ["/bin/sleep", "3600"]
memory_max = "64M"
autorestart = true
startsecs = 0.5
"""


def launch(p: Any) -> Any:
    return p.chromium.launch(executable_path=CHROMIUM, args=ARGS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} not installed (Debian package chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = launch(p)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Any]]:
    """daemon + supervisor + `oomkit web` with a token, and a real OOM kill recorded."""
    require_memcg()
    tmp = tmp_path_factory.mktemp("stack")
    with daemon(tmp) as db, supervisor(tmp, PROGRAMS) as sock, \
            LiveServer(db, WebSettings(token=TOKEN), programs=CtlPrograms(sock)) as web:
        hog = oom_kill()
        assert hog.returncode == -9, hog
        deadline = time.monotonic() + 30
        kill = None
        while time.monotonic() < deadline and kill is None:
            r = httpx.get(f"{web.url}/api/v1/kills", headers={"Authorization": f"Bearer {TOKEN}"})
            kill = next((k for k in r.json()["kills"] if k["victim_pid"] == hog.pid), None)
            time.sleep(0.3)
        assert kill is not None, "the daemon did not record the kill in 30 s"
        yield web, {"hog": hog, "kill": kill}


def page_for(browser: Any, web: LiveServer, **kw: Any) -> Any:
    ctx = browser.new_context(http_credentials={"username": "oomkit", "password": TOKEN}, **kw)
    page = ctx.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


def test_kill_appears_with_its_chart(browser: Any, stack: tuple[LiveServer, Any]) -> None:
    web, info = stack
    hog, kill = info["hog"], info["kill"]
    page = page_for(browser, web)
    page.goto(web.url + "/")
    row = page.locator("table.kills tr", has_text=f"({hog.pid})")
    row.first.wait_for(timeout=10_000)
    page.wait_for_selector("html[data-charts-drawn]", timeout=10_000)
    page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)
    row.first.locator("a").first.click()
    page.wait_for_url(f"**/kills/{kill['id']}")
    page.wait_for_selector("html[data-charts-drawn]", timeout=10_000)
    assert "cgroup limit hit" in page.locator(".headline").inner_text()
    victim = page.locator('.chart[data-kind="process"]')
    assert victim.count() == 1, "no curve of the victim before its death"
    assert victim.locator("canvas").count() == 1 and victim.get_attribute("data-drawn") == "1"
    assert page.locator("table.tasks tr.victim").count() == 1  # the victim in the task table
    page.screenshot(path=str(ARTIFACTS / "kill.png"), full_page=True)
    assert page.errors == []


def test_every_page_opens(browser: Any, stack: tuple[LiveServer, Any]) -> None:
    web, _ = stack
    for width, tag in ((1280, "desktop"), (390, "phone")):
        page = page_for(browser, web, viewport={"width": width, "height": 900})
        for path, must in (("/kills", "table.kills"), ("/processes", "table.procs"),
                           ("/programs", "article.program"), ("/doctor", "article.finding")):
            r = page.goto(web.url + path)
            assert r is not None and r.status == 200, path
            page.wait_for_selector(must)
            # Readable on a phone: nothing wider than the screen (tables scroll in their box).
            assert page.evaluate("document.documentElement.scrollWidth") <= width + 1, (tag, path)
            page.screenshot(path=str(ARTIFACTS / f"{tag}-{path.strip('/')}.png"), full_page=True)
        assert page.errors == []


def test_restart_a_program_with_the_button(browser: Any, stack: tuple[LiveServer, Any]) -> None:
    web, _ = stack
    page = page_for(browser, web)
    page.goto(web.url + "/programs")
    card = page.locator('article[data-program="sleeper"]')
    before = card.locator('[data-field="pid"]').inner_text()
    card.locator('button[data-action="restart"]').click()
    page.wait_for_function(
        """([before]) => { const c = document.querySelector('article[data-program="sleeper"]');
               return c.dataset.pid && c.dataset.pid !== before && c.dataset.state === 'running'; }""",
        arg=[before], timeout=20_000)
    assert "sleeper" in page.locator("#action-result").inner_text()
    page.screenshot(path=str(ARTIFACTS / "programs-restarted.png"), full_page=True)
    after = httpx.get(f"{web.url}/api/v1/programs", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    row = after["programs"][0]
    assert str(row["pid"]) != before and row["state"] == "running" and row["restarts"] >= 0


def test_unauthenticated_browser_is_refused(browser: Any, stack: tuple[LiveServer, Any]) -> None:
    """A server that must have credentials (any non-loopback one) answers 401 without them."""
    web, _ = stack
    from playwright.sync_api import Error

    ctx = browser.new_context()
    page = ctx.new_page()
    with pytest.raises(Error, match="ERR_INVALID_AUTH_CREDENTIALS"):  # the 401 Basic challenge
        page.goto(web.url + "/")
    for path in ("/", "/api/v1/kills", "/metrics"):
        r = ctx.request.get(web.url + path)
        assert r.status == 401, path
    ctx.close()


def test_copy_is_not_fetched_from_a_cdn(browser: Any, stack: tuple[LiveServer, Any]) -> None:
    """Every request a page makes goes to oomkit itself: it works offline."""
    web, _ = stack
    page = page_for(browser, web)
    urls: list[str] = []
    page.on("request", lambda req: urls.append(req.url))
    page.goto(web.url + "/")
    page.wait_for_selector("html[data-charts-drawn]", timeout=10_000)
    assert urls and all(u.startswith(web.url) for u in urls), urls


def teardown_module() -> None:
    # keep the screenshots; drop Playwright's stray temp profile if any
    shutil.rmtree(ARTIFACTS / ".tmp", ignore_errors=True)
