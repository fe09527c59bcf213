"""The HTTP API on a real server (loopback, ephemeral port) over a real SQLite database
written by the store's writer, and the security rules as an HTTP client sees them."""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from oomkit.web.auth import hash_password
from oomkit.web.settings import WebSettings
from tests.webdata import make_db
from tests.webfakes import FakePrograms
from tests.webserver import LiveServer

TOKEN = "web-test-token-0123456789"
CSRF = {"X-Oomkit-Request": "1"}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    path = tmp_path_factory.mktemp("webdb") / "oomkit.db"
    info = make_db(path, seconds=1800, kills=6, processes=3)
    return path, info


@pytest.fixture(scope="module")
def server(db: tuple[Path, dict[str, Any]]) -> Iterator[LiveServer]:
    with LiveServer(db[0], programs=FakePrograms()) as s:
        yield s


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def test_kills_newest_first_and_paged(client: httpx.Client) -> None:
    r = client.get("/api/v1/kills", params={"limit": 4})
    assert r.status_code == 200
    doc = r.json()
    ts = [k["ts"] for k in doc["kills"]]
    assert len(ts) == 4 and ts == sorted(ts, reverse=True)
    assert doc["kills"][0]["victim_name"] == "leaky" and doc["kills"][0]["reason"] == "cgroup_limit"
    assert {k["killer"] for k in client.get("/api/v1/kills").json()["kills"]} >= {"kernel", "earlyoom"}
    rest = client.get("/api/v1/kills", params={"before_id": doc["next_before_id"]}).json()
    assert len(rest["kills"]) == 2 and rest["next_before_id"] is None
    assert all(k["ts"] < ts[-1] for k in rest["kills"])


def test_kill_has_explanation_and_the_curve_before_death(client: httpx.Client) -> None:
    newest = client.get("/api/v1/kills", params={"limit": 1}).json()["kills"][0]
    d = client.get(f"/api/v1/kills/{newest['id']}").json()
    assert d["kill"]["explanation"]["headline"].startswith("cgroup limit hit")
    assert d["kill"]["victim"]["pid"] == 4000 and len(d["kill"]["tasks"]) == 4
    v = d["victim"]
    assert v["points"] >= 300 and v["t"][-1] <= newest["ts"] + 1
    assert v["series"]["rss_kb"][-1] > v["series"]["rss_kb"][0]  # it grew until it died
    assert d["recorded"]["process"]["name"] == "leaky" and d["recorded"]["growth_kb_s"] > 0
    (warned,) = d["recorded"]["warnings"]
    assert warned["subject"] == "pid:4000" and warned["kind"] == "warning"
    assert warned["message"].startswith("leaky (4000) runs out of memory")
    assert d["system"]["points"] > 0
    assert client.get("/api/v1/kills/999999").status_code == 404


def test_timelines_are_downsampled_keeping_extremes(client: httpx.Client, db: tuple[Path, dict[str, Any]]
                                                    ) -> None:
    start, end = db[1]["start"], db[1]["end"]
    r = client.get("/api/v1/timeline/system", params={"since": start - 1, "until": end + 1,
                                                      "points": 200}).json()
    assert r["bucket_s"] > 0 and r["points"] <= 200
    avail = [x for x in r["series"]["mem_available_kb"] if x is not None]
    raw = client.get("/api/v1/timeline/system", params={"since": end - 300, "until": end + 1}).json()
    assert raw["bucket_s"] == 0 and raw["points"] >= 290
    assert min(avail) <= min(raw["series"]["mem_available_kb"])  # the dip survives
    p = client.get("/api/v1/timeline/process/1", params={"since": start, "until": end, "points": 100})
    assert p.status_code == 200 and 0 < p.json()["points"] <= 100
    cg = client.get("/api/v1/timeline/cgroup", params={"path": "/nope"})
    assert cg.status_code == 404
    assert client.get("/api/v1/timeline/system", params={"since": end, "until": start}).status_code == 400
    found = client.get("/api/v1/processes", params={"target": "leaky"}).json()["processes"]
    assert found[0]["pid"] == 4000


def test_top_doctor_overview_and_metrics(client: httpx.Client) -> None:
    top = client.get("/api/v1/top", params={"limit": 5}).json()
    assert 0 < len(top["processes"]) <= 5 and top["processes"][0]["rank"] == 1
    assert {f["status"] for f in client.get("/api/v1/doctor").json()["findings"]} <= {"ok", "warn", "info"}
    ov = client.get("/api/v1/overview").json()
    assert ov["memory"]["mem_total_kb"] > 0 and len(ov["recent_kills"]) == 6
    assert ov["recorder"]["available"] and ov["recorder"]["kills_stored"] == 6
    m = client.get("/metrics")
    assert m.headers["content-type"].startswith("text/plain")
    assert 'oomkit_kills_total{killer="kernel"' in m.text and "oomkit_program_state" in m.text


def test_bad_input_is_a_client_error_not_a_crash(client: httpx.Client) -> None:
    for url in ("/api/v1/kills?limit=0", "/api/v1/kills?limit=x", "/api/v1/kills/0",
                f"/api/v1/kills/{2**70}", "/api/v1/kills?since=notatime",
                "/api/v1/timeline/system?points=1", "/api/v1/timeline/cgroup?path=relative",
                "/api/v1/processes?target=", "/api/v1/programs/..%2Fetc/log",
                "/api/v1/programs/a%20b/log"):
        assert client.get(url).status_code in (400, 404, 422), url
    r = client.post("/api/v1/programs/bad name/restart", headers=CSRF)
    assert r.status_code in (403, 404, 422)


def test_security_headers(client: httpx.Client) -> None:
    r = client.get("/")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in r.text  # no inline script anywhere


def test_dns_rebinding_host_is_refused(server: LiveServer) -> None:
    r = httpx.get(f"{server.url}/api/v1/kills", headers={"Host": f"evil.example:{server.port}"})
    assert r.status_code == 421


def test_control_needs_credentials_by_default(client: httpx.Client) -> None:
    """No credentials configured: reading is open on loopback, control is not."""
    r = client.post("/api/v1/programs/api/restart", headers=CSRF)
    assert r.status_code == 403 and "credentials" in r.json()["error"]
    assert client.get("/api/v1/programs").json()["programs"][0]["name"] == "api"


@pytest.fixture(scope="module")
def authed(db: tuple[Path, dict[str, Any]]) -> Iterator[tuple[LiveServer, FakePrograms]]:
    progs = FakePrograms()
    h = hash_password("correct horse", iterations=1000)
    with LiveServer(db[0], WebSettings(token=TOKEN, user="ops", password_hash=h), programs=progs) as s:
        yield s, progs


def test_with_credentials_configured_unauthenticated_requests_are_refused(
        authed: tuple[LiveServer, FakePrograms]) -> None:
    """What a server on a non-loopback address must have (check_exposure): every request
    without credentials gets 401, whatever the address it came to."""
    s, _ = authed
    for path in ("/", "/api/v1/kills", "/metrics", "/openapi.json", "/static/app.js"):
        r = httpx.get(s.url + path)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"].startswith("Basic")
    assert httpx.get(s.url + "/healthz").status_code == 200
    assert httpx.get(s.url + "/api/v1/kills", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = httpx.get(s.url + "/api/v1/kills", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200
    pw = "Basic " + base64.b64encode(b"ops:correct horse").decode()
    assert httpx.get(s.url + "/", headers={"Authorization": pw}).status_code == 200


def test_post_is_protected_against_cross_site_requests(authed: tuple[LiveServer, FakePrograms]) -> None:
    s, progs = authed
    auth = {"Authorization": f"Bearer {TOKEN}"}
    url = s.url + "/api/v1/programs/api/restart"
    assert httpx.post(url, headers=auth).status_code == 403  # no X-Oomkit-Request header
    assert httpx.post(url, headers={**auth, **CSRF, "Origin": "http://evil.example"}).status_code == 403
    assert httpx.post(url, headers={**auth, **CSRF, "Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert httpx.get(url, headers=auth).status_code == 405  # state changes are POST only
    assert progs.calls == []
    r = httpx.post(url, headers={**auth, **CSRF, "Origin": s.url})
    assert r.status_code == 200 and r.json()["result"] == "api: restarted"
    assert progs.calls == [("api", "restart")]
    assert httpx.post(s.url + "/api/v1/programs/nope/stop", headers={**auth, **CSRF}).status_code == 404
    log = httpx.get(s.url + "/api/v1/programs/api/log", params={"lines": 3}, headers=auth)
    assert log.text == "line 0\nline 1\nline 2\n"


def test_refuses_to_start_on_a_public_address_without_credentials(tmp_path: Path) -> None:
    """The real command, before it binds anything: one clear line, exit 1."""
    (tmp_path / "none.toml").write_text("[web]\ncontrol = \"auth\"\n")
    r = subprocess.run([sys.executable, "-m", "oomkit", "web", "--listen", "0.0.0.0:9731",
                        "--db", str(tmp_path / "x.db"), "--config", str(tmp_path / "none.toml")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("oomkit: refusing to listen on 0.0.0.0:9731 without"
                                                   " authentication")


def test_the_command_serves(tmp_path: Path, db: tuple[Path, dict[str, Any]]) -> None:
    """`oomkit web` as users run it: starts, answers, stops on SIGTERM."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "c.toml").write_text("")
    p = subprocess.Popen([sys.executable, "-m", "oomkit", "web", "--listen", f"127.0.0.1:{port}",
                          "--db", str(db[0]), "--config", str(tmp_path / "c.toml")],
                         stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/v1/kills?limit=1", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert r.status_code == 200 and r.json()["kills"][0]["victim_name"] == "leaky"
    finally:
        p.terminate()
        _, err = p.communicate(timeout=30)
    assert f"serving http://127.0.0.1:{port}/" in err
