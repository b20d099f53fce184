"""Screenshots of the model page for docs/how-to/understanding.md, from a running server, in headless Chromium.

    .venv/bin/python -m devtools.screenshots                        # http://127.0.0.1:8000 → docs/
    .venv/bin/python -m devtools.screenshots http://host:8000 --out docs

Playwright drives Debian's Chromium (`make test` installs it); Playwright's own browser downloads
are never used, so this works offline. The compare page shows the two newest versions."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from playwright.sync_api import Browser, Playwright, ViewportSize, sync_playwright

from devtools.server import ROOT

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")  # Debian's package
VIEWPORT: ViewportSize = {"width": 1400, "height": 900}


def launch(playwright: Playwright) -> Browser:
    """Headless Debian Chromium (Playwright adds --no-sandbox: we may run as root)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True)


def capture(browser: Browser, url: str, out: Path) -> list[Path]:
    """docs/model-page.png, model-report.png and model-compare.png; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(f"{url}/models")
    versions = page.locator("#versions tbody tr").evaluate_all("rows => rows.map(r => r.dataset.version)")
    if len(versions) < 2:
        raise SystemExit(f"{url}/models lists {len(versions)} version(s): the compare page needs two")
    shots = [out / "model-page.png", out / "model-report.png", out / "model-compare.png"]
    page.screenshot(path=shots[0], full_page=True)
    page.goto(f"{url}/models/{versions[0]}/report")
    page.screenshot(path=shots[1], full_page=False)
    page.goto(f"{url}/models/compare?a={versions[1]}&b={versions[0]}")
    page.wait_for_load_state("load")
    page.screenshot(path=shots[2], full_page=False)
    page.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.screenshots", description=__doc__)
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args(argv)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            for path in capture(browser, args.url.rstrip("/"), args.out):
                print(path)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
