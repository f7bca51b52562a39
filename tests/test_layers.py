"""DESIGN.md's layer rules, checked on the source: lower layers never import higher
ones, and torch is imported only under wearsense/fusion/."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "wearsense"

#: layer of each top-level module or package; a module may import only its own layer or lower
LAYERS = {
    "stream": 0, "errors": 0,
    "bridge": 1, "devices": 1, "dsp": 1, "io": 1, "sim": 1,
    "sync": 2, "recording": 2, "calibrate": 2,
    "effort": 3,
    "fusion": 4,
    "live": 5, "report": 5, "demo": 5, "cli": 6, "__main__": 6,
}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in a file, function-level ones included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def _sources():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _top(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def test_torch_is_imported_only_under_fusion():
    bad = [f"{p.relative_to(PACKAGE.parent)}:{line} imports {mod}"
           for p in _sources() if _top(p) != "fusion"
           for line, mod in _imports(p) if mod == "torch" or mod.startswith("torch.")]
    assert not bad, ("torch outside wearsense/fusion/ (move the call into the fusion layer):\n"
                     + "\n".join(bad))


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_imports_no_higher_layer(path):
    top = _top(path)
    if top not in LAYERS:
        return  # the package's __init__ (the front door) and py.typed
    mine = LAYERS[top]
    bad = []
    for line, mod in _imports(path):
        parts = mod.split(".")
        if parts[0] != "wearsense" or len(parts) < 2:
            continue
        other = parts[1]
        if other in LAYERS and LAYERS[other] > mine:
            bad.append(f"line {line}: {mod} (layer {LAYERS[other]} > {top}'s {mine})")
    assert not bad, "\n".join(bad)
