"""The package is laid out by stage and its imports run one way (docs/architecture.md):

    common -> models (lif, attention, zoo) -> counting -> interop -> pricing -> workflow
           -> report -> cli

A module may import its own stage or a lower one, never a higher one, and no two modules import
each other, directly or through others. The walk reads every ``import`` in the source with
``ast``, the ones inside functions too (a lazy import is still an import); only those under
``if TYPE_CHECKING:`` are left out, since they never run. The package's ``__init__`` (the lazy
public API) and ``__main__`` stand above every stage.

Old module paths of 0.2 still import, as the same module object, with a DeprecationWarning.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "energymodel"

#: stage of each module path prefix (the longest prefix wins), lowest first
STAGES = ["common", "models", "counting", "interop", "pricing", "workflow", "report", "cli"]
STAGE_OF = {
    "energymodel.common": "common",
    "energymodel.lif": "models",
    "energymodel.attention": "models",
    "energymodel.zoo": "models",
    "energymodel.counting": "counting",
    "energymodel.interop": "interop",
    "energymodel.pricing": "pricing",
    "energymodel.workflow": "workflow",
    "energymodel.report": "report",
    "energymodel.cli": "cli",
}
TOP = {"energymodel", "energymodel.__main__"}


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(mod: str, path: Path, known: set[str]) -> set[str]:
    """Modules of the package that ``mod`` imports (submodule names resolved)."""
    is_pkg = path.name == "__init__.py"
    pkg = mod if is_pkg else mod.rsplit(".", 1)[0]
    found: set[str] = set()

    def add(name: str) -> None:
        while name and name not in known:  # ``from .x import func``: the module is .x
            name = name.rpartition(".")[0]
        if name and name != mod:
            found.add(name)

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for c in child.orelse:
                    visit(c)
                continue
            if isinstance(child, ast.Import):
                for a in child.names:
                    if a.name.startswith("energymodel"):
                        add(a.name)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = pkg.split(".")
                    base = base[: len(base) - (child.level - 1)]
                    src = ".".join(base + ([child.module] if child.module else []))
                else:
                    src = child.module or ""
                if src.startswith("energymodel"):
                    for a in child.names:
                        sub = f"{src}.{a.name}"
                        add(sub if sub in known else src)
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return found


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {m: _imports(m, p, set(mods)) for m, p in mods.items()}


def _stage(mod: str) -> str | None:
    best = None
    for prefix, stage in STAGE_OF.items():
        if (mod == prefix or mod.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, stage)
    return best[1] if best else None


def test_every_module_has_a_stage():
    missing = [m for m in _modules() if m not in TOP and _stage(m) is None]
    assert not missing, f"modules outside every stage (add them to docs/architecture.md): {missing}"


def test_no_import_from_a_lower_stage_to_a_higher_one():
    bad = []
    for mod, deps in _graph().items():
        if mod in TOP:
            continue
        for d in deps:
            if d in TOP:
                bad.append(f"{mod} imports the package facade {d}")
            elif STAGES.index(_stage(d)) > STAGES.index(_stage(mod)):
                bad.append(f"{mod} ({_stage(mod)}) imports {d} ({_stage(d)})")
    assert not bad, "\n".join(sorted(bad))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            strong(v)
    return out


def test_no_import_cycle():
    graph = {m: {d for d in deps if d not in TOP} for m, deps in _graph().items() if m not in TOP}
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    """The check above can fail: the two cycles of 0.2 are found when put back."""
    graph = _graph()
    graph = {m: set(d) for m, d in graph.items() if m not in TOP}
    graph["energymodel.counting.diagnostics"].add("energymodel.counting.profile")
    graph["energymodel.report.tables"].add("energymodel.report.terminal")
    found = _cycles(graph)
    assert ["energymodel.counting.diagnostics", "energymodel.counting.profile"] in found
    assert ["energymodel.report.tables", "energymodel.report.terminal"] in found


def test_the_walk_sees_lazy_imports_and_skips_type_checking(tmp_path):
    src = tmp_path / "energymodel" / "counting"
    src.mkdir(parents=True)
    f = src / "x.py"
    f.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..report import tables\n"
                 "def f():\n    from ..pricing import energy\n")
    known = {"energymodel.report.tables", "energymodel.pricing.energy", "energymodel.counting.x"}
    assert _imports("energymodel.counting.x", f, known) == {"energymodel.pricing.energy"}


OLD_PATHS = {
    "energymodel.errors": "energymodel.common.errors",
    "energymodel.checks": "energymodel.common.checks",
    "energymodel._io": "energymodel.common.files",
    "energymodel._tables": "energymodel.common.formatting",
    "energymodel.neurons": "energymodel.lif",
    "energymodel.diagnostics": "energymodel.counting.diagnostics",
    "energymodel.neurobench": "energymodel.counting.neurobench",
    "energymodel.inputs": "energymodel.interop.inputs",
    "energymodel.hardware": "energymodel.pricing.hardware",
    "energymodel.energy": "energymodel.pricing.energy",
    "energymodel.mapping": "energymodel.pricing.mapping",
    "energymodel.audit": "energymodel.pricing.audit",
}


@pytest.mark.parametrize("old,new", sorted(OLD_PATHS.items()))
def test_old_module_paths_import_the_new_module_with_a_deprecation_warning(old, new):
    code = (
        "import warnings, importlib, sys\n"
        "warnings.simplefilter('error', DeprecationWarning)\n"
        f"new = importlib.import_module({new!r})\n"
        "try:\n"
        f"    importlib.import_module({old!r})\n"
        "except DeprecationWarning as w:\n"
        "    print('WARNED', w)\n"
        "warnings.simplefilter('ignore')\n"
        f"old = importlib.import_module({old!r})\n"
        "print('SAME', old is new)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert f"WARNED {old} moved to {new}" in r.stdout
    assert "SAME True" in r.stdout


def test_old_name_from_the_package_warns_and_public_names_do_not():
    import energymodel as em

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for name in ("profile", "Profiler", "estimate", "load_hardware", "zoo", "analytic", "nir",
                     "LIF", "attention", "CountOptions"):
            getattr(em, name)
        importlib.import_module("energymodel.nir")  # em.nir's own path stays
        importlib.import_module("energymodel.analytic")
    with pytest.warns(DeprecationWarning, match="energymodel.pricing.mapping"):
        from energymodel import mapping  # noqa: F401
    with pytest.warns(DeprecationWarning, match="report.terminal.format_terminal"):
        from energymodel.report.tables import format_terminal  # noqa: F401
