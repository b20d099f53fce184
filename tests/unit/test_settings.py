"""Settings: the spec's variable names, from the environment and from .env."""

from __future__ import annotations

from pathlib import Path

import pytest

from purchase.settings import Settings


def test_defaults_follow_the_spec(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    s = Settings()
    assert (s.api_host, s.api_port, s.max_batch_size, s.default_threshold) == ("0.0.0.0", 8000, 1000, 0.5)
    assert (s.model_dir, s.default_model, s.cors_origins, s.log_file) == (Path("models"), None, ["*"], None)


def test_env_file_and_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text('API_PORT=9001\nCORS_ORIGINS=["https://shop.example"]\nMAX_BATCH_SIZE=50\n')
    monkeypatch.setenv("MAX_BATCH_SIZE", "70")  # the environment wins over .env
    s = Settings()
    assert (s.api_port, s.cors_origins, s.max_batch_size) == (9001, ["https://shop.example"], 70)


def test_invalid_settings_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFAULT_THRESHOLD", "2")
    with pytest.raises(ValueError, match="default_threshold"):
        Settings()


@pytest.mark.parametrize("url", ["localhost:6379", "http://cache:6379", "redis:/cache"])
def test_a_malformed_redis_url_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    with pytest.raises(ValueError, match=r"redis_url\n.*must look like redis://"):
        Settings()


@pytest.mark.parametrize("url", ["redis://cache:6379/0", "rediss://user:secret@cache:6380/1", "unix:///run/redis.sock"])
def test_redis_urls_of_every_scheme_are_taken(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    assert Settings().redis_url == url
