"""`oomkit web`'s settings and security decisions: pure functions, no server."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from oomkit.config import parse as parse_config
from oomkit.errors import ConfigError
from oomkit.web.auth import (
    Authenticator,
    hash_password,
    host_allowed,
    parse_authorization,
    same_origin,
    verify_password,
)
from oomkit.web.settings import (
    Listen,
    WebSettings,
    check_exposure,
    is_loopback,
    parse_listen,
    parse_section,
    with_token,
)

TOKEN = "s3cret-token-0123456789"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(("text", "host", "port", "loopback"), [
    ("127.0.0.1:9731", "127.0.0.1", 9731, True),
    ("9000", "127.0.0.1", 9000, True),
    ("localhost:80", "localhost", 80, True),
    ("[::1]:9731", "::1", 9731, True),
    ("127.0.0.2:1", "127.0.0.2", 1, True),
    ("0.0.0.0:9731", "0.0.0.0", 9731, False),
    ("[::]:9731", "::", 9731, False),
    ("192.0.2.7:9731", "192.0.2.7", 9731, False),
])
def test_parse_listen(text: str, host: str, port: int, loopback: bool) -> None:
    got = parse_listen(text)
    assert (got.host, got.port, got.loopback) == (host, port, loopback)


@pytest.mark.parametrize("text", ["", "host:80", "1.2.3.4", "1.2.3.4:99999", "::1:80", "[::1]80",
                                  "1.2.3.4:-1", "example.com:80"])
def test_parse_listen_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected|not an IP|port"):
        parse_listen(text)


def test_non_loopback_without_credentials_is_refused_in_one_line() -> None:
    for host in ("0.0.0.0", "::", "192.0.2.7"):
        s = WebSettings(listen=Listen(host, 9731))
        with pytest.raises(ConfigError) as exc:
            check_exposure(s)
        assert "refusing to listen" in str(exc.value) and "\n" not in str(exc.value)
    check_exposure(WebSettings(listen=Listen("0.0.0.0", 9731), token=TOKEN))
    check_exposure(WebSettings(listen=Listen("0.0.0.0", 9731), user="ops",
                               password_hash=hash_password("pw-long-enough", iterations=1000)))
    check_exposure(WebSettings())  # loopback, no credentials: fine
    with pytest.raises(ConfigError, match="only allowed on a loopback"):
        check_exposure(WebSettings(listen=Listen("0.0.0.0", 1), token=TOKEN, control="open"))


def test_token_file(tmp_path: Path) -> None:
    f = tmp_path / "token"
    f.write_text(TOKEN + "\n")
    assert with_token(WebSettings(token_file=f)).token == TOKEN
    f.write_text("short\n")
    with pytest.raises(ConfigError, match="at least 16"):
        with_token(WebSettings(token_file=f))
    with pytest.raises(ConfigError, match="no such token file"):
        with_token(WebSettings(token_file=tmp_path / "absent"))


def test_section_in_the_shared_config_file() -> None:
    h = hash_password("correct horse", iterations=1000)
    conf = parse_config(f"""
[web]
listen = "0.0.0.0:9731"
user = "ops"
password_hash = "{h}"
allowed_hosts = ["oomkit.example.com"]
control = "auth"
public_metrics = true
""", "/etc/oomkit/oomkit.toml")
    w = conf.web
    assert isinstance(w, WebSettings)
    assert (w.listen.host, w.user, w.allowed_hosts, w.public_metrics) == (
        "0.0.0.0", "ops", ("oomkit.example.com",), True)
    check_exposure(w)


@pytest.mark.parametrize(("body", "message"), [
    ('listen = "nowhere"', "web.listen"),
    ('token = "x"', "token_file"),
    ('tls_cert = "/a"', "both tls_cert and tls_key"),
    ('user = "ops"', "both user and password_hash"),
    ('password_hash = "md5$x"', "web.password_hash"),
    ('control = "maybe"', "web.control"),
    ('colour = "red"', "unknown key"),
    ('allowed_hosts = "x"', "web.allowed_hosts"),
])
def test_section_errors_name_the_key(body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(f"[web]\n{body}\n", "/etc/oomkit/oomkit.toml")


def test_passwords() -> None:
    h = hash_password("correct horse", iterations=1000)
    assert h.startswith("pbkdf2_sha256$1000$")
    assert verify_password("correct horse", h)
    assert not verify_password("correct horsf", h)
    with pytest.raises(ConfigError, match="pbkdf2_sha256"):
        parse_section({"user": "a", "password_hash": "plain"})


def test_authenticator() -> None:
    h = hash_password("correct horse", iterations=1000)
    a = Authenticator(WebSettings(token=TOKEN, user="ops", password_hash=h))
    assert a.required
    assert a.check(f"Bearer {TOKEN}")
    assert a.check(basic("anyone", TOKEN))
    assert a.check(basic("ops", "correct horse"))
    assert a.check(basic("ops", "correct horse"))  # remembered
    for bad in (None, "", "Bearer nope", basic("ops", "wrong"), basic("root", "correct horse"),
                "Basic !!!", "Digest x", f"Bearer{TOKEN}"):
        assert not a.check(bad)
    assert not Authenticator(WebSettings()).required
    assert parse_authorization("Basic " + base64.b64encode(b"no-colon").decode()).scheme == "bad"


def test_host_check_stops_dns_rebinding() -> None:
    open_ = WebSettings()
    for ok in ("127.0.0.1:9731", "localhost:9731", "[::1]:9731", "127.0.0.2"):
        assert host_allowed(ok, open_), ok
    for bad in ("evil.example:9731", "192.0.2.1:9731", None, "", "[::1", "a:b:c"):
        assert not host_allowed(bad, open_), bad
    authed = WebSettings(token=TOKEN)
    assert host_allowed("oomkit.example.com", authed)
    pinned = WebSettings(token=TOKEN, allowed_hosts=("oomkit.example.com",))
    assert host_allowed("oomkit.example.com:443", pinned)
    assert not host_allowed("other.example.com", pinned)
    assert is_loopback("127.8.9.10") and not is_loopback("10.0.0.1")


def test_cross_site_posts_are_refused() -> None:
    good = {"x-oomkit-request": "1", "host": "127.0.0.1:9731"}
    assert same_origin(good, "http") is None
    assert same_origin({**good, "origin": "http://127.0.0.1:9731", "sec-fetch-site": "same-origin"},
                       "http") is None
    assert "header" in (same_origin({"host": "127.0.0.1:9731"}, "http") or "")
    assert "cross-site" in (same_origin({**good, "sec-fetch-site": "cross-site"}, "http") or "")
    assert "Origin" in (same_origin({**good, "origin": "http://evil.example"}, "http") or "")
    assert "Origin" in (same_origin({**good, "origin": "https://127.0.0.1:9731"}, "http") or "")
