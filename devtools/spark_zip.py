"""The package as one zip for spark-submit's --py-files: python -m devtools.spark_zip [PATH]."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "dist" / "purchase.zip"


def build(path: Path = DEFAULT) -> Path:
    """Every module of `purchase`, under its package path; written aside and renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".zip.tmp")
    with zipfile.ZipFile(scratch, "w", zipfile.ZIP_DEFLATED) as archive:
        for module in sorted((ROOT / "purchase").rglob("*.py")):
            archive.write(module, module.relative_to(ROOT).as_posix())
    scratch.replace(path)
    return path


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT))
