"""The hardware-cost estimate against measured chips (hwprofiles/validation/measured.yaml).

Every held-out case lands within 2x of its measurement at both ends of its activity bracket;
fitted constants name the cases they were fitted to, and those cases are marked ``fit``; the
predictions are checked by hand on one case per chip; a bad row is one error naming file, row
and field."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from energymodel.pricing import validation as V
from energymodel.pricing.hardware import HardwareError, load_hardware

REPO = Path(__file__).resolve().parents[1]
CASES = V.load_cases()


@pytest.fixture(scope="module")
def table():
    return V.validate(CASES)


def test_at_least_ten_cases_held_out_and_fit_apart():
    assert len(CASES) >= 10
    held = [c for c in CASES if c.role == "held_out"]
    assert len(held) >= 7 and {c.chip for c in held} == {"loihi", "truenorth", "movidius-ncs"}
    assert len({c.id for c in CASES}) == len(CASES)
    for chip in {c.chip for c in CASES}:          # every chip: fitted on some, tested on others
        roles = {c.role for c in CASES if c.chip == chip}
        assert roles == {"fit", "held_out"}, chip


@pytest.mark.parametrize("case", [c.id for c in CASES if c.role == "held_out"])
def test_held_out_case_within_2x_at_both_ends(table, case):
    rows = table[table["case"] == case]
    c = next(x for x in CASES if x.id == case)
    ran = sorted(rows["activity"].fillna(-1).unique())
    assert ran == sorted(-1 if a != a else a for a in c.activity)  # both bracket ends ran
    assert set(rows["quantity"]) == set(c.measured)
    bad = rows[~rows["within"]]
    assert bad.empty, bad[["activity", "quantity", "measured", "predicted", "ratio"]]


def test_fitted_constants_name_fit_cases_only():
    """A constant fitted to a case makes that case no test: every `fitted` entry of a shipped
    profile names cases of this file, and each of them has role fit."""
    roles = {c.id: c.role for c in CASES}
    seen = 0
    for chip in ("loihi", "truenorth", "movidius-ncs"):
        hw = load_hardware(chip)
        for section in ("events", "timing", "power", "capacity"):
            for key, e in (hw.data.get(section) or {}).items():
                if isinstance(e, dict) and "fitted" in e:
                    for cid in (s.strip() for s in e["fitted"].split(",")):
                        assert roles.get(cid) == "fit", (chip, section, key, cid)
                        seen += 1
    assert seen >= 14


def test_loihi_keyword_spotter_by_hand():
    """Period: 10 steps of the host's time, 184.8 us + 2 input cores x 76.23 us (the busiest
    core needs far less); energy above idle: the full-convention op energy + 80.7 mW x period;
    total: + 29.5 mW x period."""
    c = next(x for x in CASES if x.id == "loihi-kws")
    p = V.predict(c, 0.1)
    period = 10 * (184.8e-6 + 2 * 76.23e-6)
    assert p["period_s"] == pytest.approx(period)
    assert p["latency_s"] == pytest.approx((10 + 3 - 1) * period / 10)   # 3 stages
    run, idle = 0.0807 * period, 0.0295 * period
    ops = p["dynamic_j"] - run
    # SOPs at 10 % activity: 10 steps x (39 of 390 inputs x 256 + 26 of 256 x 256 + 26 x 29)
    sops = 10 * (39 * 256 + 26 * 256 + 26 * 29) * 23.6e-12
    assert ops > sops and ops < 3 * sops   # plus neuron updates and spike routing
    assert p["total_j"] == pytest.approx(p["dynamic_j"] + idle)


def test_movidius_scaled_network_by_hand():
    """N = 4 branches: MAC slots 390x256 + 4 x 10 x 256x256 + (4 x 256) x 256 + 256x29 =
    2,990,848 (models.ScaledModel, counted by hand); period 3.584 ms + slots / 697.3 M/s;
    above idle: 330.1 pJ a slot + 409.3 mW x period; total: + 210.3 mW idle x period."""
    c = next(x for x in CASES if x.id == "movidius-scaled-4")
    p = V.predict(c, V.DENSE)
    macs = 390 * 256 + 4 * 10 * 256 * 256 + 4 * 256 * 256 + 256 * 29
    assert macs == 2_990_848
    period = 3.584e-3 + macs / 0.6973e9
    assert p["period_s"] == pytest.approx(period)
    assert p["latency_s"] == pytest.approx(period)        # one inference at a time
    assert p["dynamic_j"] == pytest.approx(macs * 330.1e-12 + 0.4093 * period)
    assert p["total_j"] == pytest.approx(p["dynamic_j"] + 0.2103 * period)
    assert p["chips"] == 1


def test_truenorth_power_by_hand():
    """20.07 Hz x 1,048,576 neurons x 128 synapses x 2.30 pJ + 64.4 mW = 70.6 mW."""
    c = next(x for x in CASES if x.id == "truenorth-sweep-20.07hz")
    p = V.predict(c, c.activity[0])
    events_per_s = round(0.02007 * 1048576) * 128 / 1e-3
    assert p["power_w"] == pytest.approx(events_per_s * 2.30e-12 + 0.0644, rel=1e-6)
    assert p["cores"] == 4096 and p["chips"] == 1


def test_the_check_can_fail():
    """The same case with a measurement 3x higher is outside 2x: the test above can fail."""
    c = next(x for x in CASES if x.id == "truenorth-sweep-20.07hz")
    worse = V.MeasuredCase(**{**c.__dict__, "measured": {"power_w": 3 * c.measured["power_w"]}})
    assert not V.validate([worse])["within"].any()


_GOOD = (REPO / "hwprofiles" / "validation" / "measured.yaml").read_text()
_FIRST = "  - id: loihi-kws\n"


@pytest.mark.parametrize("edit,field", [
    (lambda t: t.replace("    role: fit\n", "", 1), "role"),
    (lambda t: t.replace("    role: fit\n", "    role: maybe\n", 1), "role"),
    (lambda t: t.replace("period_s: 3.373e-3", "period_s: 3.373e+9", 1), "measured.period_s"),
    (lambda t: t.replace("period_s: 3.373e-3", "latency: 3.373e-3", 1), "measured.latency"),
    (lambda t: re.sub(r'source: "blouw2019, Table 1[^\n]*', 'source: "somebody, Table 1"', t, 1),
     "source"),
    (lambda t: t.replace("activity: {low: 0.05, high: 0.2}", "activity: {low: 0.05, high: 2}", 1),
     "activity.high"),
    (lambda t: t.replace("network: blouw_keyword_spotter", "network: nothing", 1), "network"),
    (lambda t: t.replace("    input_cores: 2\n", "    input_cores: -1\n", 1), "input_cores"),
    (lambda t: t.replace("    chip: loihi\n", "    chip: loihi\n    colour: red\n", 1), "colour"),
    (lambda t: t.replace("activity: {low: 0.05, high: 0.2}", "activity: dense", 1), "activity"),
    (lambda t: t.replace("    chip: loihi\n", "    chip: nochip\n", 1), "chip"),
    (lambda t: t.replace("    input_cores: 2\n", "    input_cores: 2\n    args: {colour: 1}\n", 1),
     "args.colour"),
    (lambda t: t.replace("    input_cores: 2\n", "    input_cores: 2\n    args: {timesteps: 4000}\n",
                         1), "args.timesteps"),
])
def test_bad_row_names_file_row_and_field(tmp_path, edit, field):
    f = tmp_path / "cases.yaml"
    f.write_text(edit(_GOOD))
    with pytest.raises(HardwareError) as e:
        V.load_cases(f)
    msg = str(e.value)
    assert msg.startswith(f"{f}: case 1 (loihi-kws): {field}:"), msg
    assert "{" not in msg, msg          # every placeholder filled


def test_cli_check_measured_bad_file_is_one_error_line(tmp_path):
    f = tmp_path / "cases.yaml"
    f.write_text(_GOOD.replace("    role: fit\n", "", 1))
    r = subprocess.run([sys.executable, "-m", "energymodel", "hw", "check-measured", "--cases",
                        str(f)], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and re.match(r"error: .*cases\.yaml: case 1 \(loihi-kws\): role: missing",
                                        lines[0]), r.stderr


def test_a_dense_network_takes_activity_dense(tmp_path):
    """A non-spiking network's case has no activity: a bracket there is refused, by name."""
    f = tmp_path / "cases.yaml"
    f.write_text(_GOOD.replace("    args: {n_branches: 0}\n    activity: dense\n",
                               "    args: {n_branches: 0}\n    activity: {low: 0.05, high: 0.2}\n",
                               1))
    with pytest.raises(HardwareError, match=r"\(movidius-kws\): activity: 'blouw_scaled_ann' is "
                       "not spiking"):
        V.load_cases(f)


def test_summary_fits_80_columns_and_names_every_chip(table):
    text = V.summary_text(table)
    assert max(len(ln) for ln in text.splitlines()) <= 80
    for chip in ("[loihi]", "[truenorth]", "[movidius-ncs]"):
        assert chip + "\n" in text + "\n"
    assert re.search(r"held out\): .* within 2x: (\d+) of \1$", text.replace("\n  ", " "), re.M)


def test_results_section_equals_a_fresh_validation(table):
    """The per-chip figures every hardware-cost note quotes (measured.yaml `results`) are what
    the cases give now, for the profile files as they are now."""
    import hashlib

    import yaml

    stored = yaml.safe_load(_GOOD)["results"]
    assert set(stored) == set(table["chip"])
    for chip, d in table.groupby("chip"):
        h = d[d["role"] == "held_out"]
        r = stored[chip]
        assert r["held_out_cases"] == h["case"].nunique() and r["checks"] == len(h)
        assert r["within_2x"] == int(h["within"].sum())
        assert r["ratio_low"] == pytest.approx(h["ratio"].min(), abs=0.005)
        assert r["ratio_high"] == pytest.approx(h["ratio"].max(), abs=0.005)
        digest = hashlib.sha256((REPO / "hwprofiles" / f"{chip}.yaml").read_bytes()).hexdigest()
        assert r["profile_sha256"] == digest[:16], f"{chip}.yaml changed: re-run the cases"


def test_hardware_cost_notes_say_what_was_checked(tmp_path):
    from torch import nn

    import energymodel as em
    from energymodel.zoo.measured import FixedRateNeuron, spike_pattern

    model = nn.Sequential(nn.Linear(16, 8), FixedRateNeuron(0.2))
    prof = em.profile(model, spike_pattern(2, (1, 16), 0.2), batch_dim=1)
    # a copy of the shipped Loihi profile with one byte changed is not the profile checked
    changed = tmp_path / "loihi.yaml"
    changed.write_text(Path(load_hardware("loihi").path).read_text() + "\n# edited\n")
    rep = em.estimate(prof, ["loihi", "fpga", str(changed)], mode="full", timesteps=2)
    notes = dict(zip(range(3), rep.hardware_cost["notes"]))
    assert "checked against 6 held-out measured case(s)" in notes[0]
    assert "activity: not published: run at 0.05 and 0.2" in notes[0]
    assert "fitted to measurements: timing.host_step" in notes[0]
    assert "not checked against a measured chip" in notes[1] and "no constant fitted" in notes[1]
    assert "not checked against a measured chip" in notes[2]


def test_readme_quotes_the_validation_as_it_is(table):
    """The README's closing line of the validation table states today's figures."""
    text = " ".join((REPO / "README.md").read_text().split())
    h = table[table["role"] == "held_out"]
    line = (f"Held out: {h['case'].nunique()} cases, {len(h)} checks (period, energy above idle, "
            f"total energy, power), all within 2x: {h['ratio'].min():.2f} to "
            f"{h['ratio'].max():.2f}")
    assert int(h["within"].sum()) == len(h)
    assert line in text, line
    assert f"holds {len(CASES)} measured cases on {table['chip'].nunique()} chips" in text


def test_movidius_model_extrapolates_to_larger_networks():
    """Cross-validation of the dense model's form beyond the sizes it saw: refit the four
    constants on N = 0 and N = 4 only (from the measurements in the case file), then predict
    N = 6, 8 and 10 (up to 2.4x the MAC slots of N = 4) through the real flow."""
    import numpy as np

    from energymodel.pricing.hardware import load_hardware_text

    by_id = {c.id: c for c in CASES}
    pts = []
    for cid in ("movidius-scaled-0", "movidius-scaled-4"):
        c = by_id[cid]
        n = c.args["n_branches"]
        macs = 390 * 256 + (n * 10 * 256 * 256 + n * 256 * 256 if n else 256 * 256) + 256 * 29
        pts.append((macs, c.measured["period_s"], c.measured["dynamic_j"]))
    (m0, t0, d0), (m1, t1, d1) = pts
    rate = (m1 - m0) / (t1 - t0)
    over = t0 - m0 / rate
    p_run, e_mac = np.linalg.solve([[t0, m0], [t1, m1]], [d0, d1])
    text = Path(load_hardware("movidius-ncs").path).read_text()
    for old, new in (("value: 330.1", f"value: {e_mac * 1e12:.3f}"),
                     ("value: 0.6973", f"value: {rate / 1e9:.6f}"),
                     ("value: 3.584", f"value: {over * 1e3:.6f}"),
                     ("value: 409.3", f"value: {p_run * 1e3:.3f}")):
        assert old in text
        text = text.replace(old, new, 1)
    text = text.replace("low: 286.6\n    high: 373.5", f"low: {e_mac * 1e12:.3f}\n    high: "
                        f"{e_mac * 1e12:.3f}").replace("low: 400.5\n    high: 418.1",
                                                       f"low: {p_run * 1e3:.3f}\n    high: "
                                                       f"{p_run * 1e3:.3f}")
    refit = load_hardware_text(text, "refit.yaml")
    for cid in ("movidius-scaled-6", "movidius-scaled-8", "movidius-scaled-10"):
        c = by_id[cid]
        p = V.predict(c, V.DENSE, hardware=refit)
        for q in ("period_s", "dynamic_j", "total_j"):
            ratio = p[q] / c.measured[q]
            assert 0.85 <= ratio <= 1.15, (cid, q, ratio)   # measured here: 0.90 to 1.00
