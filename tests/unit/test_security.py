"""API keys and rate limits: the rules, in-process."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from purchase.serving.edge.security import (
    Access,
    KeyRing,
    RateLimiter,
    authorize,
    identify,
    is_loopback,
    key_id,
    parse_rate,
    presented_key,
)

# --- the rules, in-process ----------------------------------------------------------------------


def test_keys_from_headers() -> None:
    assert presented_key({"x-api-key": "a"}) == "a"
    assert presented_key({"authorization": "Bearer b "}) == "b"
    assert presented_key({"authorization": "Basic c"}) is None
    assert presented_key({"authorization": "Bearer "}) is None


def test_authorization_rules() -> None:
    api, admin, none = KeyRing(["p"]), KeyRing(["a"]), KeyRing([])
    assert authorize(Access.PREDICT, None, "10.0.0.1", api, admin, False).status == 401
    assert authorize(Access.PREDICT, "x", "10.0.0.1", api, admin, False).status == 403
    assert authorize(Access.PREDICT, "p", "10.0.0.1", api, admin, False) is None
    assert authorize(Access.PREDICT, "a", "10.0.0.1", api, admin, False) is None  # admin keys open everything
    assert authorize(Access.ADMIN, "p", "10.0.0.1", api, admin, False).status == 403
    assert authorize(Access.PREDICT, None, "10.0.0.1", none, none, False) is None  # no keys set: open
    # No admin key set: admin routes answer to loopback clients only.
    assert authorize(Access.ADMIN, None, "127.0.0.1", api, none, False) is None
    assert authorize(Access.ADMIN, None, "::1", api, none, False) is None
    assert authorize(Access.ADMIN, "p", "10.0.0.1", api, none, False).status == 403
    assert authorize(Access.METRICS, None, "10.0.0.1", api, admin, False) is None
    assert authorize(Access.METRICS, None, "10.0.0.1", api, admin, True).status == 401
    denied = authorize(Access.PREDICT, None, "10.0.0.1", api, admin, False)
    assert denied.headers["WWW-Authenticate"].startswith("Bearer")


def test_key_files_are_reread_when_they_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("purchase.serving.edge.security.RELOAD_CHECK_S", 0.0)
    keys = tmp_path / "keys"
    keys.write_text("old\n")
    ring = KeyRing([], keys)
    assert ring.accepts("old") and not ring.accepts("new")
    time.sleep(0.01)
    keys.write_text("# rotated\nnew\n")
    assert ring.accepts("new") and not ring.accepts("old")
    keys.unlink()
    assert ring.enabled and not ring.accepts("new")  # an unreadable file grants nothing and opens nothing


def test_token_bucket() -> None:
    assert parse_rate("100/second") == (100.0, 100.0) and parse_rate("60/minute") == (60.0, 1.0)
    limiter = RateLimiter(capacity=3, per_second=1.0)
    assert [limiter.retry_after("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert 0.5 < limiter.retry_after("a") <= 1.0
    assert limiter.retry_after("b") == 0.0  # callers have their own buckets


def test_a_key_is_compared_whole() -> None:
    """A wrong key that shares a long prefix, or is a prefix, or extends the key, is refused."""
    key = "shop-key-0123456789abcdef"
    ring = KeyRing([key])
    assert ring.accepts(key)
    for wrong in (key[:-1] + "0", key[:8], key[:-1], key + "0", "x" + key[1:]):
        assert not ring.accepts(wrong), wrong


def test_refusals_say_what_to_do() -> None:
    api, admin, none = KeyRing(["p"]), KeyRing(["a"]), KeyRing([])
    missing = authorize(Access.PREDICT, None, "10.0.0.1", api, none, False)
    assert (missing.status, missing.detail) == (401, "Missing API key: send it as X-API-Key or Authorization: Bearer")
    wrong = authorize(Access.PREDICT, "x", "10.0.0.1", api, none, False)
    assert (wrong.status, wrong.detail, wrong.headers) == (
        403,
        "Invalid API key",
        {"WWW-Authenticate": 'Bearer realm="purchase-prediction", error="invalid_token"'},
    )
    remote = authorize(Access.ADMIN, None, "10.0.0.1", api, none, False)
    assert (remote.status, remote.detail) == (
        403,
        "Admin routes answer only to local clients while ADMIN_API_KEYS is unset",
    )
    # Only admin keys set: prediction routes stay open, metrics (when they need a key) take the admin key.
    assert authorize(Access.PREDICT, None, "10.0.0.1", none, admin, True) is None
    assert authorize(Access.METRICS, None, "10.0.0.1", none, admin, True).status == 401
    assert authorize(Access.METRICS, "a", "10.0.0.1", none, admin, True) is None
    assert authorize(Access.METRICS, None, "10.0.0.1", none, none, True) is None
    assert not is_loopback("not-an-address") and not is_loopback(None) and is_loopback("127.0.0.2")


def test_every_key_of_a_ring_opens_and_comment_lines_do_not(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("# a comment line\n\nfirst\nsecond\n")
    ring = KeyRing(["third"], keys)
    assert all(ring.accepts(k) for k in ("first", "second", "third"))
    assert not ring.accepts("# a comment line") and not ring.accepts("")


def test_a_key_file_is_read_at_start_then_at_most_once_per_check_interval(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("purchase.serving.edge.security.RELOAD_CHECK_S", 3600.0)
    keys = tmp_path / "keys"
    keys.write_text("old\n")
    ring = KeyRing([], keys)
    keys.write_text("new\n")
    assert ring.accepts("old") and not ring.accepts("new")  # not re-read within the interval


def test_headers_without_a_key() -> None:
    assert presented_key({}) is None
    assert presented_key({"authorization": "Bearer"}) is None
    assert presented_key({"x-api-key": "", "authorization": "bearer k"}) == "k"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_buckets_refill_at_the_rate_and_a_refusal_takes_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr("purchase.serving.edge.security.time.monotonic", clock)
    limiter = RateLimiter(capacity=2, per_second=2.0)
    assert [limiter.retry_after("a"), limiter.retry_after("a")] == [0.0, 0.0]
    clock.now += 0.25  # half a token back
    assert limiter.retry_after("a") == 0.25
    clock.now += 0.25  # a whole token: the refusal above took none
    assert limiter.retry_after("a") == 0.0
    clock.now += 10  # never more than the capacity
    assert [limiter.retry_after("a") for _ in range(3)] == [0.0, 0.0, 0.5]


def test_the_longest_idle_caller_is_forgotten_past_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    monkeypatch.setattr("purchase.serving.edge.security.time.monotonic", clock)
    monkeypatch.setattr("purchase.serving.edge.security.MAX_TRACKED_CALLERS", 2)
    limiter = RateLimiter(capacity=1, per_second=0.001)
    assert (limiter.retry_after("a"), limiter.retry_after("b")) == (0.0, 0.0)
    assert limiter.retry_after("a") > 0  # two callers: both remembered
    assert limiter.retry_after("c") == 0.0  # a third: b, idle longest, is forgotten
    assert limiter.retry_after("b") == 0.0  # a fresh bucket (and now a is the longest idle)
    assert limiter.retry_after("c") > 0


def test_a_caller_sees_the_jobs_of_its_key_an_admin_key_and_a_keyless_server_see_all() -> None:
    api, admin = KeyRing(["user-a-key", "user-b-key"]), KeyRing(["admin-key"])
    a, b = identify("user-a-key", api, admin), identify("user-b-key", api, admin)
    assert a.key_id == key_id("user-a-key") != b.key_id and "user-a-key" not in a.key_id
    assert a.may_see(a.key_id) and not a.may_see(b.key_id) and not a.may_see("")
    assert identify("admin-key", api, admin).may_see(b.key_id)
    keyless = identify(None, KeyRing([]), KeyRing([]))
    assert keyless.sees_all and keyless.key_id == ""
    assert identify(None, KeyRing([]), admin).sees_all  # prediction routes open to all: one tenant
