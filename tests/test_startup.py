"""The light commands start fast: ``--help`` and the ``hw`` sub-commands import neither torch,
pandas nor matplotlib (checked on ``sys.modules`` of a fresh interpreter), and
``import energymodel.pricing.hardware`` neither."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "pandas", "matplotlib")

_PROBE = """
import json, sys
sys.argv = ["energymodel", *json.loads(sys.argv[1])]
from energymodel.cli import app
try:
    app()
except SystemExit as e:
    code = e.code
else:
    code = 0
print("\\nMODULES=" + json.dumps(sorted(m for m in {HEAVY} if m in sys.modules)) + f" CODE={code}")
""".replace("{HEAVY}", repr(HEAVY))


def _run(args: list[str]) -> tuple[list[str], int, float]:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(args)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - t
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("MODULES=")][-1]
    mods, code = line[len("MODULES="):].rsplit(" CODE=", 1)
    return json.loads(mods), int(code if code != "None" else 0), wall


@pytest.mark.parametrize("args", [["--help"], ["hw", "list"], ["hw", "show", "loihi"],
                                  ["hw", "validate", "hwprofiles/fpga.yaml"],
                                  ["profile", "--help"], ["compare", "--help"]])
def test_light_commands_import_no_heavy_module(args):
    mods, code, wall = _run(args)
    assert code == 0
    assert mods == [], f"{' '.join(args)} imported {mods}"
    assert wall < 5.0  # generous on a loaded CI core; locally ~0.3 s


def test_import_hardware_is_light():
    code = ("import sys, energymodel.pricing.hardware, energymodel; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       check=True, timeout=120)
    assert r.stdout.strip() == "[]"


def test_lazy_names_still_resolve():
    import energymodel as em

    assert em.Profile.__name__ == "Profile" and callable(em.estimate)
    assert em.zoo.build and em.attention and em.analytic
    assert set(em.__all__) <= set(dir(em))
    with pytest.raises(AttributeError):
        em.no_such_name  # noqa: B018
