"""API keys and rate limits: which caller may call which route, and how often."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

RELOAD_CHECK_S = 1.0
MAX_TRACKED_CALLERS = 10_000
PER_SECONDS = {"second": 1.0, "minute": 60.0, "hour": 3600.0}


class Access(Enum):
    PUBLIC = "public"  # probes, docs, API info
    PREDICT = "predict"  # needs an API key when API_KEYS is set
    ADMIN = "admin"  # needs an admin key; loopback clients only when ADMIN_API_KEYS is unset
    METRICS = "metrics"  # public unless METRICS_REQUIRE_KEY


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@dataclass
class KeyRing:
    """Keys from a setting and a file; the file is re-read when it changes, so keys rotate without a restart."""

    keys: list[str]
    file: Path | None = None
    _digests: list[bytes] = field(default_factory=list)
    _file_stamp: float | None = None
    _next_check: float = 0.0

    def __post_init__(self) -> None:
        self._reload(force=True)

    def _reload(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now < self._next_check:
            return
        self._next_check = now + RELOAD_CHECK_S
        from_file: list[str] = []
        if self.file is not None:
            try:
                stamp = self.file.stat().st_mtime
                if not force and stamp == self._file_stamp:
                    return
                self._file_stamp = stamp
                from_file = [
                    line.strip()
                    for line in self.file.read_text().splitlines()
                    if line.strip() and not line.startswith("#")
                ]
            except OSError:
                from_file = []  # an unreadable key file grants nothing
        self._digests = [digest(k) for k in (*self.keys, *from_file)]

    @property
    def enabled(self) -> bool:
        """Keys are required once any are configured: a key file that is missing, empty or unreadable
        locks the routes (fails closed) rather than opening them."""
        return bool(self.keys) or self.file is not None

    def accepts(self, presented: str) -> bool:
        """Constant time in the key: every stored digest is compared, with no early exit."""
        self._reload()
        candidate = digest(presented)
        found = False
        for stored in self._digests:
            found |= hmac.compare_digest(stored, candidate)
        return found


def key_id(key: str) -> str:
    """What stores may keep of a key to recognise it later: a prefix of its digest, never the key."""
    return digest(key).hex()[:32]


@dataclass(frozen=True)
class Caller:
    """Whose batch jobs a caller sees: the jobs its key submitted, or every job (an admin key, or no
    API keys configured: one tenant)."""

    key_id: str
    sees_all: bool

    def may_see(self, submitter: str) -> bool:
        return self.sees_all or submitter == self.key_id


def identify(key: str | None, api: KeyRing, admin: KeyRing) -> Caller:
    """For a caller the edge has let through (its key, if any, is valid)."""
    is_admin = key is not None and admin.enabled and admin.accepts(key)
    if key is None or not api.enabled:
        return Caller("", sees_all=is_admin or not api.enabled)
    return Caller(key_id(key), sees_all=is_admin)


def presented_key(headers: dict[str, str]) -> str | None:
    if key := headers.get("x-api-key"):
        return key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Denied:
    status: int
    detail: str

    @property
    def headers(self) -> dict[str, str]:
        challenge = 'Bearer realm="purchase-prediction"'
        if self.status == 403:
            challenge += ', error="invalid_token"'
        return {"WWW-Authenticate": challenge} if self.status in (401, 403) else {}


def authorize(
    access: Access, key: str | None, client_host: str | None, api: KeyRing, admin: KeyRing, metrics_need_key: bool
) -> Denied | None:
    """None when the call may go on, else why not. Admin keys also open prediction routes."""
    if access is Access.PUBLIC or (access is Access.METRICS and not metrics_need_key):
        return None
    if access is Access.ADMIN:
        if not admin.enabled:
            return (
                None
                if is_loopback(client_host)
                else Denied(403, "Admin routes answer only to local clients while ADMIN_API_KEYS is unset")
            )
        return _check(key, admin)
    if not api.enabled and not (access is Access.METRICS and admin.enabled):
        return None
    if key is not None and admin.enabled and admin.accepts(key):
        return None
    return _check(key, api)


def _check(key: str | None, ring: KeyRing) -> Denied | None:
    if key is None:
        return Denied(401, "Missing API key: send it as X-API-Key or Authorization: Bearer")
    return None if ring.accepts(key) else Denied(403, "Invalid API key")


def parse_rate(text: str) -> tuple[float, float]:
    """'100/second' → (100 tokens, refilled at 100 per second)."""
    count, _, unit = text.partition("/")
    return float(count), float(count) / PER_SECONDS[unit]


@dataclass
class RateLimiter:
    """A token bucket per caller (API key digest, else client address), in this worker's memory."""

    capacity: float
    per_second: float
    _buckets: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict)

    async def acquire(self, caller: str) -> float:
        return self.retry_after(caller)

    def retry_after(self, caller: str) -> float:
        """0 when the call may go on (a token is taken), else seconds until one is available."""
        now = time.monotonic()
        tokens, last = self._buckets.pop(caller, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.per_second)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.per_second
        self._buckets[caller] = (tokens - 1 if wait == 0 else tokens, now)
        if len(self._buckets) > MAX_TRACKED_CALLERS:
            self._buckets.popitem(last=False)  # forget the longest-idle caller
        return wait
