"""The folder tree is the architecture: the offline paths (batch jobs, Spark, training) and the shared
contract import nothing of serving, and serving's layers import only downwards. (The commands in cli/
sit above both: `make build` packages the service.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "purchase"
SERVING = PACKAGE / "serving"
# A layer may import from the layers after it, never from one before it.
SERVING_LAYERS = ["page", "routes", "dataplane", "monitoring", "models", "fleet"]


def imported(path: Path) -> set[str]:
    """Absolute names of the modules `path` imports (relative imports resolved)."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def offline_modules() -> list[Path]:
    everything = sorted(PACKAGE.rglob("*.py"))
    return [path for path in everything if SERVING not in path.parents and PACKAGE / "cli" not in path.parents]


@pytest.mark.parametrize("path", offline_modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_nothing_outside_serving_imports_serving(path: Path) -> None:
    assert not [name for name in imported(path) if name.startswith("purchase.serving")]


def layer_of(name: str) -> int | None:
    parts = name.split(".")
    if parts[:2] != ["purchase", "serving"] or len(parts) < 3:
        return None
    return SERVING_LAYERS.index(parts[2]) if parts[2] in SERVING_LAYERS else len(SERVING_LAYERS)


@pytest.mark.parametrize("path", sorted(SERVING.rglob("*.py")), ids=lambda path: str(path.relative_to(SERVING)))
def test_serving_layers_import_only_downwards(path: Path) -> None:
    own = layer_of(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts))
    assert own is not None
    upwards = [name for name in imported(path) if (layer := layer_of(name)) is not None and layer < own]
    assert upwards == []
