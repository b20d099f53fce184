"""The README and the documentation pages, followed top to bottom as a new user would: every fenced bash
and Python example runs, the README first and then the pages in the site's order (mkdocs.yml's nav),
against a real server on the README's own store layout (a copy of the tests' store), except those marked
`<!-- README example not run by tests/integration/test_readme.py: why -->`.
`curl` fails on an error answer here (--fail-with-body), so an example that stops working fails."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from devtools.server import ROOT, ServerProcess
from purchase import store
from purchase.training import synthetic
from tests.helpers import Trained
from tests.integration.conftest import start

README = ROOT / "README.md"
README_MAX_LINES = 200  # the short way in; the rest is on the site
EXAMPLE = re.compile(
    r"(<!-- README example not run by [^:]*: (?P<why>[^>]*) -->\n)?```(?P<lang>bash|python)\n(?P<code>.*?)```", re.S
)
STRICT_CURL = 'curl() { command curl --silent --show-error --fail-with-body "$@"; echo; }\n'


@dataclass(frozen=True)
class Example:
    page: Path
    line: int
    lang: str
    code: str
    skipped_because: str | None

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line} ({self.lang})"


def pages() -> list[Path]:
    """The README, then the site's pages in its navigation's order."""

    def walk(entries: list) -> Iterator[str]:
        for entry in entries:
            value = next(iter(entry.values())) if isinstance(entry, dict) else entry
            yield from walk(value) if isinstance(value, list) else [value]

    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    return [README, *(ROOT / "docs" / page for page in walk(nav))]


def examples() -> list[Example]:
    found = []
    for page in pages():
        text = page.read_text()
        for m in EXAMPLE.finditer(text):
            line = text[: m.start("code")].count("\n") + 1
            found.append(Example(page, line, m["lang"], textwrap.dedent(m["code"]), m["why"]))
    return found


def test_the_site_lists_every_page_and_the_readme_stays_short() -> None:
    listed = {page.relative_to(ROOT / "docs") for page in pages()[1:]}
    assert listed == {page.relative_to(ROOT / "docs") for page in (ROOT / "docs").rglob("*.md")}
    assert len(README.read_text().splitlines()) <= README_MAX_LINES
    linked = re.findall(r"\]\((docs/[^)#]+)", README.read_text())  # make docs checks the pages' own links
    assert linked and [link for link in linked if not (ROOT / link).is_file()] == []


@pytest.fixture(scope="module")
def readme_server(tmp_path_factory: pytest.TempPathFactory, v1: Trained) -> Iterator[tuple[ServerProcess, dict]]:
    """`make serve`'s state, isolated: a store of its own (a copy of the tests'), an exported archive in
    MODEL_DIR, the online store loaded with the default synthetic log."""
    folder = tmp_path_factory.mktemp("readme")
    home = folder / "home"
    shutil.copytree(Path(os.environ["BENTOML_HOME"]) / "models", home / "models")
    env = {"BENTOML_HOME": str(home), "MODEL_DIR": str(folder / "models"), "FEATURE_DB": str(folder / "f.sqlite")}
    # The Spark commands' log (the Makefile's SPARK_EVENTS): a small one, so their run stays short here.
    env["SPARK_EVENTS"] = str(folder / "events.csv")
    synthetic.generate(n_users=150, n_days=60, seed=3).events.to_csv(env["SPARK_EVENTS"], index=False)
    store.export(str(v1.model.tag), folder / "models")
    command = [sys.executable, "-m", "purchase.cli.features"]
    subprocess.run(command, cwd=ROOT, env={**os.environ, **env}, check=True, capture_output=True, timeout=600)
    server = start(tmp_path_factory, "readme-server", {**env, "DEFAULT_MODEL": str(v1.model.tag)}, "/readyz")
    yield server, env
    server.stop()


def test_every_example_is_run_or_says_why_not() -> None:
    found = examples()
    assert len(found) >= 12 and all(e.skipped_because is None or e.skipped_because.strip() for e in found)
    assert sum(e.skipped_because is None for e in found) >= 8


@pytest.mark.timeout(1500)  # it trains several versions (one on Spark), as a reader of the README does
def test_the_readme_top_to_bottom(readme_server: tuple[ServerProcess, dict]) -> None:
    server, env = readme_server
    port = server.url.rsplit(":", 1)[1]
    for example in examples():
        if example.skipped_because is not None:
            continue
        code = re.sub(r"(127\.0\.0\.1|localhost):8000", f"127.0.0.1:{port}", example.code)
        if example.lang == "bash":
            command = ["bash", "-euo", "pipefail", "-c", STRICT_CURL + code]
        else:
            command = [sys.executable, "-c", code]
        environment = {**os.environ, **env, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"{example} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        assert "Traceback" not in result.stdout + result.stderr, f"{example}:\n{result.stderr[-3000:]}"
