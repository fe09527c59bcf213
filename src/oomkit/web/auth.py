"""Who may read and who may act: credentials, cross-site request and Host checks. Pure.

* Credentials: ``Authorization: Bearer TOKEN`` (scripts, Prometheus), or HTTP basic
  auth (browsers) with the configured user and password, or any user name and the
  token as the password. Compared in constant time. Password hashes are PBKDF2-SHA256
  (``hashlib``, OWASP's 600,000 iterations); a verified password is remembered as an
  HMAC under a per-process key, so a browser's every request does not cost 0.3 s.
* Cross-site requests: every state-changing request is a POST that must carry the
  ``X-Oomkit-Request`` header (a page on another origin cannot add it without a CORS
  preflight, which this server never grants), and its ``Origin``/``Sec-Fetch-Site``,
  when the browser sends them, must be this origin.
* DNS rebinding: without credentials (loopback only) the ``Host`` header must be a
  loopback name or address, so a hostile page whose name resolves to 127.0.0.1
  cannot read the API.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from oomkit.web.settings import WebSettings, is_loopback

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 600_000
CSRF_HEADER = "x-oomkit-request"
_REMEMBERED_MAX = 64


def hash_password(password: str, *, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    """``pbkdf2_sha256$ITERATIONS$SALT$HASH`` (base64), for ``password_hash`` in [web]."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    b64 = base64.b64encode
    return f"{ALGORITHM}${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def _split(stored: str) -> tuple[int, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != ALGORITHM or not parts[1].isdecimal():
        raise ValueError(f"expected {ALGORITHM}$ITERATIONS$SALT$HASH, as printed by"
                         " `oomkit web --hash-password`")
    iterations = int(parts[1])
    if not 1_000 <= iterations <= 10_000_000:
        raise ValueError("iterations must be from 1000 to 10000000")
    try:
        salt = base64.b64decode(parts[2], validate=True)
        digest = base64.b64decode(parts[3], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the salt and hash must be base64") from None
    if len(salt) < 8 or len(digest) != 32:
        raise ValueError("salt too short or hash not 32 bytes")
    return iterations, salt, digest


def check_hash_format(stored: str) -> None:
    """ValueError unless ``stored`` is a hash this module can verify."""
    _split(stored)


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time comparison)."""
    iterations, salt, digest = _split(stored)
    got = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return hmac.compare_digest(got, digest)


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a request presented."""

    scheme: str  # "bearer", "basic", "" (none) or "bad" (malformed)
    user: str
    secret: str


def parse_authorization(value: str | None) -> Credentials:
    """The Authorization header, decoded; never raises."""
    if not value:
        return Credentials("", "", "")
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        return Credentials("bearer", "", rest.strip())
    if scheme.lower() == "basic":
        try:
            raw = base64.b64decode(rest.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return Credentials("bad", "", "")
        user, sep, password = raw.partition(":")
        if sep:
            return Credentials("basic", user, password)
    return Credentials("bad", "", "")


class Authenticator:
    """Checks credentials against the settings. Thread-safe (its only state is a small set)."""

    def __init__(self, settings: WebSettings) -> None:
        self._token = settings.token
        self._user = settings.user
        self._hash = settings.password_hash
        self._key = secrets.token_bytes(32)
        self._remembered: set[bytes] = set()
        self.required = settings.auth_configured

    def _token_ok(self, secret: str) -> bool:
        if not self._token:
            return False
        return hmac.compare_digest(hashlib.sha256(secret.encode()).digest(),
                                   hashlib.sha256(self._token.encode()).digest())

    def _password_ok(self, user: str, password: str) -> bool:
        if self._user is None or self._hash is None:
            return False
        mark = hmac.new(self._key, f"{user}\0{password}".encode(), hashlib.sha256).digest()
        if mark in self._remembered:
            return True
        if not hmac.compare_digest(user.encode(), self._user.encode()):
            return False
        if not verify_password(password, self._hash):
            return False
        if len(self._remembered) >= _REMEMBERED_MAX:
            self._remembered.clear()
        self._remembered.add(mark)
        return True

    def check(self, authorization: str | None) -> bool:
        """Whether the Authorization header carries valid credentials."""
        c = parse_authorization(authorization)
        if c.scheme == "bearer":
            return self._token_ok(c.secret)
        if c.scheme == "basic":
            return self._token_ok(c.secret) or self._password_ok(c.user, c.secret)
        return False


def host_name(host_header: str | None) -> str | None:
    """The name part of a Host header (brackets kept off IPv6), lower-cased; None if malformed."""
    if not host_header:
        return None
    h = host_header.strip().lower()
    if h.startswith("["):
        end = h.find("]")
        if end < 0:
            return None
        rest = h[end + 1:]
        if rest and not (rest.startswith(":") and rest[1:].isdecimal()):
            return None
        return h[1:end]
    name, sep, port = h.rpartition(":")
    if not sep:
        return h
    if not port.isdecimal() or not name:
        return None
    return name


def host_allowed(host_header: str | None, settings: WebSettings) -> bool:
    """DNS-rebinding guard: which Host headers are served.

    Without credentials only loopback names (or ``allowed_hosts``); with credentials any
    host unless ``allowed_hosts`` is set (a rebinding page has no credentials to send).
    """
    name = host_name(host_header)
    if name is None:
        return False
    if settings.allowed_hosts:
        return name in settings.allowed_hosts or is_loopback(name)
    if settings.auth_configured:
        return True
    return is_loopback(name)


def same_origin(headers: Mapping[str, str], scheme: str) -> str | None:
    """None if a state-changing request may proceed, else why not (cross-site protection)."""
    if headers.get(CSRF_HEADER) != "1":
        return f"missing the {CSRF_HEADER} header (state-changing requests come from oomkit's pages)"
    site = headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"cross-site request refused (Sec-Fetch-Site: {site})"
    origin = headers.get("origin")
    if origin is not None:
        o = urlsplit(origin)
        host = headers.get("host", "")
        if o.scheme != scheme or o.netloc.lower() != host.lower():
            return "cross-origin request refused (Origin does not match Host)"
    return None
