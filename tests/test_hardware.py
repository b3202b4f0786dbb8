"""Hardware profiles: shipped files validate, corrupted copies fail naming the field, the loader
never raises anything but HardwareError on arbitrary text, accessors return the cited pJ."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from energymodel.pricing.hardware import (
    HardwareError,
    HardwareProfile,
    list_hardware,
    load_hardware,
    validate_hardware_file,
)
from energymodel.pricing.hardware import load_hardware_text, validate_hardware_text

REPO = Path(__file__).resolve().parent.parent
SHIPPED = ["cmos45nm", "fpga", "loihi", "truenorth"]


def test_shipped_profiles_listed_and_valid():
    names = list_hardware()
    for n in SHIPPED:
        assert n in names
        assert validate_hardware_file(REPO / "hwprofiles" / f"{n}.yaml") == []
        hw = load_hardware(n)
        assert isinstance(hw, HardwareProfile) and hw.name == n
        # every constant carries a citation naming one of the profile's sources
        for c in hw.constants()["citation"]:
            assert any(k in c for k in hw.sources), c


def test_horowitz_constants():
    hw = load_hardware("cmos45nm")
    table = {"int8": (0.03, 0.2), "int32": (0.1, 3.1), "fp16": (0.4, 1.1), "fp32": (0.9, 3.7)}
    for prec, (add, mult) in table.items():
        assert hw.energy("add", prec) == pytest.approx(add)
        assert hw.energy("mult", prec) == pytest.approx(mult)
    assert hw.energy("mac", "fp32") == pytest.approx(4.6)
    # int16 is not in the source: it must say so
    c = hw.constants()
    i16 = c[(c.precision == "int16")]
    assert len(i16) == 2 and i16["interpolated"].all()
    assert hw.dram_pj(64) == pytest.approx(1950)
    assert hw.dram_pj(64, which="low") == pytest.approx(1300)
    assert hw.dram_pj(64, which="high") == pytest.approx(2600)


def test_neuromorphic_constants_and_flags():
    lo = load_hardware("loihi")
    assert lo.event("synaptic_op") == pytest.approx(23.6)
    assert lo.event("neuron_update_active") == pytest.approx(81)
    assert lo.event("neuron_update_inactive") == pytest.approx(52)
    assert lo.event("spike") == pytest.approx(1.7)
    assert (lo.event("tile_hop", "low"), lo.event("tile_hop", "high")) == (3.0, 4.0)
    assert lo.includes_memory and not lo.all_in
    tn = load_hardware("truenorth")
    assert tn.event("synaptic_op") == pytest.approx(2.30) and tn.all_in
    fp = load_hardware("fpga")
    assert fp.all_in
    # the FPGA figure is power / synaptic-op throughput (FireFly v2, TCAD 2024), two OPs per
    # synaptic op: nominal 4.9 W at 2896 GOP/s (Table IX), low 4.9 W at the 4096 GOP/s peak
    # (Table V), high 6.2 W at 1340.5 GOP/s (Table VI)
    def e_sop_pj(watts, gops):
        return watts / (gops * 1e9 / 2) * 1e12
    assert fp.event("synaptic_op") == pytest.approx(e_sop_pj(4.9, 2896), rel=1e-3)
    assert fp.event("synaptic_op", "low") == pytest.approx(e_sop_pj(4.9, 4096), rel=1e-3)
    assert fp.event("synaptic_op", "high") == pytest.approx(e_sop_pj(6.2, 1340.5), rel=1e-3)
    assert "derivation" in fp.entry("events.synaptic_op")


def test_sram_interpolation_rule():
    hw = load_hardware("cmos45nm")
    # listed points, per 64-bit access
    assert hw.sram_read_pj(8192, 64) == pytest.approx(10)
    assert hw.sram_read_pj(32768, 64) == pytest.approx(20)
    assert hw.sram_read_pj(1 << 20, 64) == pytest.approx(100)
    # linear between points: 20 KB lies halfway between 8 KB and 32 KB
    assert hw.sram_read_pj(20480, 64) == pytest.approx(15)
    # below the smallest: linear from 0 at 0 bytes; above the largest: held
    assert hw.sram_read_pj(4096, 64) == pytest.approx(5)
    assert hw.sram_read_pj(0, 64) == 0
    assert hw.sram_read_pj(1 << 24, 64) == pytest.approx(100)
    # width: 'access' charges a whole entry access for a narrower word, 'bits' scales
    assert hw.sram_read_pj(8192, 32, width_rule="access") == pytest.approx(10)
    assert hw.sram_read_pj(8192, 32, width_rule="bits") == pytest.approx(5)
    assert hw.sram_read_pj(8192, 128, width_rule="access") == pytest.approx(20)


def test_accessor_errors_name_the_field():
    hw = load_hardware("loihi")
    with pytest.raises(HardwareError, match=r"loihi\.yaml.*arithmetic\.add\.fp32"):
        hw.energy("add", "fp32")
    with pytest.raises(HardwareError, match="sram"):
        hw.sram_read_pj(1024, 32)
    with pytest.raises(ValueError, match="unknown precision"):
        load_hardware("cmos45nm").energy("add", "fp12")
    with pytest.raises(HardwareError, match="unknown hardware profile"):
        load_hardware("no-such-chip")


def test_env_var_adds_search_folder(tmp_path, monkeypatch):
    text = (REPO / "hwprofiles" / "truenorth.yaml").read_text().replace("name: truenorth", "name: mychip")
    (tmp_path / "mychip.yaml").write_text(text)
    monkeypatch.setenv("ENERGYMODEL_HWPROFILES", str(tmp_path))
    assert "mychip" in list_hardware()
    assert load_hardware("mychip").event("synaptic_op") == pytest.approx(2.30)
    assert load_hardware(str(tmp_path / "mychip.yaml")).name == "mychip"


# ----------------------------------------------------------------------------- corruption
def _corrupt(text: str, how: str) -> tuple[str, str]:
    """Return (corrupted text, the field the error must name)."""
    lines = text.splitlines(keepends=True)
    if how == "remove":
        # drop the first 'citation' field of an entry written one key per line, or inline
        for i, ln in enumerate(lines):
            if re.match(r"^\s+citation:", ln):
                return "".join(lines[:i] + lines[i + 1:]), "citation"
        for i, ln in enumerate(lines):
            if "citation:" in ln and "{" in ln:
                lines[i] = re.sub(r',\s*citation:\s*"[^"]*"', "", ln)
                return "".join(lines), "citation"
    if how == "unit":
        return text.replace("unit: pJ", "unit: pj", 1), "unit"
    if how == "negative":
        return re.sub(r"value: (\d)", r"value: -\1", text, count=1), "value"
    if how == "duplicate":
        for i, ln in enumerate(lines):
            if ln.startswith("description:"):
                return "".join(lines[: i + 1] + ["description: again\n"] + lines[i + 1:]), "description"
    raise AssertionError(how)


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("how", ["remove", "unit", "negative", "duplicate"])
def test_corrupted_copy_fails_naming_the_field(tmp_path, name, how):
    text = (REPO / "hwprofiles" / f"{name}.yaml").read_text()
    bad, field = _corrupt(text, how)
    assert bad != text
    path = tmp_path / f"{name}.yaml"
    path.write_text(bad)
    problems = validate_hardware_file(path)
    assert problems, f"{how} corruption of {name} not detected"
    assert any(p.field.split(".")[-1] == field for p in problems), problems
    assert all(p.file == str(path) for p in problems)
    assert any(p.line for p in problems if p.field.split(".")[-1] == field)
    with pytest.raises(HardwareError) as ei:
        load_hardware(path)
    assert field in str(ei.value) and str(path) in str(ei.value)


def test_all_problems_listed_at_once():
    text = """schema: energymodel.hardware/1
name: x
description: y
kind: quantum
technology_node_nm: -3
sources: {a: "ref"}
colour: blue
arithmetic:
  add:
    fp32: {value: -1, unit: pJ, citation: a}
    fp99: {value: 1, unit: pJ, citation: a}
  mult:
    fp32: {value: one, unit: Joules, citation: a, bogus: 1}
"""
    fields = {p.field for p in validate_hardware_text(text)}
    assert {"kind", "technology_node_nm", "colour", "arithmetic.add.fp32.value",
            "arithmetic.add.fp99", "arithmetic.mult.fp32.value", "arithmetic.mult.fp32.unit",
            "arithmetic.mult.fp32.bogus"} <= fields
    lines = {p.field: p.line for p in validate_hardware_text(text)}
    assert lines["colour"] == 7 and lines["arithmetic.add.fp99"] == 11


# ----------------------------------------------------------------------------- hypothesis
_yaml_chars = st.sampled_from(list("abcxyz019:-[]{}!&*#|>'\"%@`,. \n\t?") + ["value", "unit", "pJ", "- ", ": "])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_yaml_chars, max_size=60).map("".join))
def test_loader_never_crashes_on_yaml_like_text(text):
    try:
        load_hardware_text(text, "fuzz.yaml")
    except HardwareError as e:
        assert e.problems
    assert isinstance(validate_hardware_text(text, "fuzz.yaml"), list)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10), st.floats(allow_nan=True),
                     st.text(max_size=5))
_trees = st.recursive(_scalars, lambda ch: st.one_of(st.lists(ch, max_size=3),
                                                      st.dictionaries(st.text(max_size=5), ch, max_size=3)),
                      max_leaves=15)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(["schema", "name", "description", "kind", "technology_node_nm",
                                        "sources", "flags", "arithmetic", "sram", "dram", "events", "x"]),
                       _trees, max_size=8))
def test_loader_never_crashes_on_random_profiles(d):
    text = yaml.safe_dump(d)
    try:
        load_hardware_text(text, "fuzz.yaml")
    except HardwareError:
        pass


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=80))
def test_loader_never_crashes_on_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("b") / "x.yaml"
    path.write_bytes(data)
    try:
        load_hardware(path)
    except HardwareError:
        pass


# ----------------------------------------------------------------------------- CLI
def _cli(*args):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "energymodel.cli", *args], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=60)


def test_cli_hw_commands(tmp_path):
    r = _cli("hw", "list")
    assert r.returncode == 0
    for n in SHIPPED:
        assert n in r.stdout
    r = _cli("hw", "show", "loihi")
    assert r.returncode == 0 and "23.6" in r.stdout and "davies2018" in r.stdout
    ok = [str(REPO / "hwprofiles" / f"{n}.yaml") for n in SHIPPED]
    assert _cli("hw", "validate", *ok).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "hwprofiles" / "cmos45nm.yaml").read_text().replace("unit: pJ", "unit: pj"))
    r = _cli("hw", "validate", str(bad))
    assert r.returncode == 1 and "unit" in r.stdout and "Traceback" not in r.stdout + r.stderr
    assert r.stdout.count("unknown unit") >= 10  # every misspelt unit listed, not just the first
    r = _cli("hw", "validate", str(tmp_path / "missing.yaml"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_alias_bomb_is_refused_quickly():
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        levels.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    text = "\n".join(levels) + "\n"
    problems = validate_hardware_text(text, "bomb.yaml")
    assert problems and "too large" in problems[0].message
    with pytest.raises(HardwareError, match="too large"):
        load_hardware_text(text, "bomb.yaml")
