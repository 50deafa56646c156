"""The tree shows the architecture: services grouped by domain, arrows pointing one way.

Reads every module's imports (those that run: not the ones under `if TYPE_CHECKING`, which are
for the type checker only) and holds them to the order drawn in `jeton/services/__init__.py`.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import jeton
import jeton.services

SRC = Path(jeton.__file__).parent
SERVICES = Path(jeton.services.__file__).parent
# Lower first: a domain may import only domains before it in this list.
LAYERS = ["ledger", "access", "events", "charging", "funding", "gamification", "reports", "ops",
          "bench"]
MODULE_LINES_MAX = 600  # "about 500": a module past this is split along its concepts


def _runtime_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def _domain_edges() -> dict[tuple[str, str], set[str]]:
    edges: dict[tuple[str, str], set[str]] = {}
    for path in SERVICES.rglob("*.py"):
        rel = path.relative_to(SERVICES)
        if len(rel.parts) < 2:
            continue
        here = rel.parts[0]
        for name in _runtime_imports(path):
            parts = name.split(".")
            if parts[:2] == ["jeton", "services"] and len(parts) > 2 and parts[2] != here:
                edges.setdefault((here, parts[2]), set()).add(str(rel))
    return edges


def test_services_are_the_domains_and_nothing_else() -> None:
    loose = sorted(p.name for p in SERVICES.glob("*.py") if p.name != "__init__.py")
    assert loose == [], f"modules outside a domain: {loose}"
    domains = sorted(p.name for p in SERVICES.iterdir()
                     if p.is_dir() and (p / "__init__.py").exists())
    assert domains == sorted(LAYERS)
    for d in domains:
        assert (SERVICES / d / "docs.md").read_text().startswith(f"# jeton.services.{d}\n")


def test_domains_import_only_the_domains_below_them() -> None:
    wrong = {f"{a} -> {b}": sorted(files) for (a, b), files in _domain_edges().items()
             if b not in LAYERS or LAYERS.index(b) >= LAYERS.index(a)}
    assert wrong == {}


def test_every_services_module_imports() -> None:
    for path in sorted(SERVICES.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        importlib.import_module(".".join(rel.parts).removesuffix(".__init__"))


def test_core_imports_nothing_of_the_rest() -> None:
    outside = {}
    for path in (SRC / "core").rglob("*.py"):
        bad = sorted(n for n in _runtime_imports(path)
                     if n.startswith("jeton.") and not n.startswith("jeton.core"))
        if bad:
            outside[path.name] = bad
    assert outside == {}


@pytest.mark.parametrize("package", ["services", "core", "store"])
def test_no_module_is_over_its_size(package: str) -> None:
    big = {str(p.relative_to(SRC)): n for p in (SRC / package).rglob("*.py")
           if (n := len(p.read_text().splitlines())) > MODULE_LINES_MAX}
    assert big == {}


def test_the_public_names_are_sorted_and_importable() -> None:
    assert list(jeton.__all__) == sorted(jeton.__all__)
    for name in jeton.__all__:
        assert getattr(jeton, name) is not None
