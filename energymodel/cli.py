"""The ``energymodel`` command line: thin wrappers over the public API.

``profile`` (:func:`energymodel.workflow.profile_model_spec`), ``compare``
(:func:`energymodel.report.compare.compare_attention`), ``report``
(:func:`energymodel.report.build.build_reports`) and the ``hw`` sub-app. A user error
(:class:`~energymodel.common.errors.UserError`, a bad hardware profile) prints one line ``error: ...``
on stderr and exits with code 2, writing no file; typer's own usage errors also exit with 2.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer

from .pricing import hardware as _hw
from .common.errors import UserError

app = typer.Typer(
    name="energymodel",
    help="Measured op counts and hardware-priced energy for spiking neural networks.",
    no_args_is_help=True,
    add_completion=False,
)

hw_app = typer.Typer(help="Hardware profiles: list, show, validate.", no_args_is_help=True)
app.add_typer(hw_app, name="hw")


#: torch loggers that report a missing Triton (GPU kernel compiler) on CUDA builds without it:
#: nothing energymodel uses, so their lines are kept out of its output
_TRITON_LOGGERS = ("torch.utils.flop_counter", "torch._library.triton")


class _NoTriton(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "triton" not in record.getMessage().lower()


def _quiet_triton_logs() -> None:
    for name in _TRITON_LOGGERS:
        lg = logging.getLogger(name)
        if not any(isinstance(f, _NoTriton) for f in lg.filters):
            lg.addFilter(_NoTriton())


@app.callback()
def _root() -> None:
    """energymodel: what your SNN costs in energy on real hardware."""
    _quiet_triton_logs()


@hw_app.command("list")
def hw_list() -> None:
    """Shipped (and ENERGYMODEL_HWPROFILES) profiles, one line each: name, node, source."""
    for name in _hw.list_hardware():
        try:
            p = _hw.load_hardware(name)
        except _hw.HardwareError as e:
            typer.echo(f"{name:<12} INVALID: {e}")
            continue
        from .common.text import terminal_width  # noqa: PLC0415

        first = " ".join(next(iter(p.sources.values()), "").split())
        node = f"{p.technology_node_nm:g} nm"
        head = f"{name:<12} {node:>6}  {p.kind:<12} "
        room = max(20, terminal_width() - len(head))
        short = first if len(first) <= room else first[:room - 3] + "..."
        typer.echo(head + short)


@hw_app.command("show")
def hw_show(name: str = typer.Argument(..., help="profile name or path to a YAML file")) -> None:
    """Every constant of a profile with unit, range and citation."""
    try:
        p = _hw.load_hardware(name)
    except _hw.HardwareError as e:  # bad input, like every other command: one line, exit 2
        typer.echo(f"error: {' '.join(str(e).split())}", err=True)
        raise typer.Exit(2)
    _prose(f"{p.name}: {' '.join(p.description.split())}")
    _prose(f"file: {p.path}")
    _prose(f"node: {p.technology_node_nm:g} nm   kind: {p.kind}   all_in: {p.all_in}   "
           f"includes_memory: {p.includes_memory}   host: {p.host or '-'}")
    typer.echo("sources:")
    for k, v in p.sources.items():
        _prose(f"  [{k}] {' '.join(v.split())}", indent="    ")
    typer.echo("constants:")
    from types import SimpleNamespace  # noqa: PLC0415

    for r in (SimpleNamespace(**row) for row in p._rows()):  # plain dicts: no pandas import
        what = f"{r.section}.{r.name}" + (f".{r.precision}" if r.precision else "")
        if r.capacity_bytes is not None:
            what += f" @{int(r.capacity_bytes)} B"
        rng = f" [{r.low:g} .. {r.high:g}]" if (r.low != r.value or r.high != r.value) else ""
        width = f" {int(r.width_bits)}-bit" if r.width_bits else ""
        flag = " (interpolated)" if r.interpolated else ""
        _prose(f"  {what:<34} {r.value:>9g} {r.unit}{rng}{width}{flag}  -- {r.citation}",
               indent="    ")
        entry = _raw_entry(p, r.section, r.name, r.precision)
        for key in ("note", "derivation"):
            if key in entry:
                for i, ln in enumerate(str(entry[key]).strip().splitlines()):
                    _prose(f"      {key + ':' if i == 0 else '':<12} {ln.strip()}",
                           indent=" " * 13)
        if "fitted" in entry:
            _prose(f"      {'fitted to:':<12} {entry['fitted']} "
                   "(hwprofiles/validation/measured.yaml)", indent=" " * 13)
    for section in ("capacity", "timing", "power"):  # hardware cost (energymodel.pricing.mapping)
        for k, e in (p.data.get(section) or {}).items():
            rng = f" [{e['low']:g} .. {e['high']:g}]" if "low" in e or "high" in e else ""
            val = f"{str(e['value']):>9}" if isinstance(e["value"], bool) else f"{e['value']:>9g}"
            _prose(f"  {section + '.' + k:<34} {val} {e['unit']}{rng}  -- {e['citation']}",
                   indent="    ")
            if "fitted" in e:
                _prose(f"      {'fitted to:':<12} {e['fitted']} "
                       "(hwprofiles/validation/measured.yaml)", indent=" " * 13)


def _raw_entry(p: "_hw.HardwareProfile", section: str, name: str, precision: str) -> dict:
    if section == "events":
        return p.data["events"][name]
    if section == "arithmetic":
        return p.data["arithmetic"][name][precision]
    if section == "dram":
        return p.data["dram"]
    return {}


@hw_app.command("check-measured")
def hw_check_measured(
    cases: Optional[Path] = typer.Option(None, "--cases", help="a validation YAML (default: the "
                                         "shipped hwprofiles/validation/measured.yaml)"),
    out: Optional[Path] = typer.Option(None, "--out", help="also write the table (.csv, .json, "
                                       ".md, .tex)"),
) -> None:
    """The hardware-cost estimate against measured chips: every case run at its published size
    and activity (both ends of a bracket), predicted / measured per quantity. Exit 0 when every
    held-out case lands within 2x, 1 when one does not, 2 on a bad file."""
    from .pricing import validation  # noqa: PLC0415
    from .report import tables  # noqa: PLC0415

    try:
        loaded = validation.load_cases(cases)
        if out is not None:
            tables.check_output_path(out)
        df = validation.validate(loaded)
    except (UserError, _hw.HardwareError) as e:
        typer.echo(f"error: {' '.join(str(e).split())}", err=True)
        raise typer.Exit(2)
    typer.echo(validation.summary_text(df))
    if out is not None:
        tables.write_table(df, out)
        typer.echo(f"wrote {out}")
    held = df[df["role"] == "held_out"]
    raise typer.Exit(0 if bool(held["within"].all()) else 1)


@hw_app.command("validate")
def hw_validate(paths: List[Path] = typer.Argument(..., help="YAML files to check")) -> None:
    """Check hardware files: exit 0 when all are valid, 1 listing every problem, 2 when a file
    cannot be read."""
    code = 0
    for path in paths:
        problems = _hw.validate_hardware_file(path)
        unreadable = [p for p in problems if p.field == "<file>"]
        if unreadable:
            typer.echo(f"{path}: cannot read: {unreadable[0].message.split(': ', 1)[-1]}", err=True)
            code = max(code, 2)
            continue
        if problems:
            for p in problems:
                typer.echo(str(p))
            typer.echo(f"{path}: {len(problems)} problem(s)")
            code = max(code, 1)
        else:
            typer.echo(f"{path}: ok")
    raise typer.Exit(code)


def _err(line: str) -> None:
    """A ``warning:`` / ``note:`` line on stderr, folded at the terminal's width (continuation
    lines indented) when stderr is a terminal or ``COLUMNS`` is set; one line otherwise (logs
    and pipes: one finding per line, for grep)."""
    from .common.text import wrap  # noqa: PLC0415

    fold = bool(os.environ.get("COLUMNS")) or sys.stderr.isatty()
    typer.echo(wrap(line, indent="    ") if fold else line, err=True)


def _prose(text: str, indent: str = "  ") -> None:
    """A line of prose on stdout, wrapped at the terminal's width (``COLUMNS``); tables are
    drawn to the width by :mod:`energymodel.report.terminal`."""
    from .common.text import wrap  # noqa: PLC0415

    typer.echo(wrap(text, indent=indent))


def _vs_ann(flag: bool, bits: Optional[str]) -> "Any":
    """``--vs-ann`` / ``--ann-bits`` as profile_model_spec's ``vs_ann`` (checked up front)."""
    if bits is None:
        return True if flag else None
    if bits in ("int8", "fp16", "fp32"):
        return bits
    if not bits.isdigit() or not 1 <= int(bits) <= 32:
        raise UserError(f"--ann-bits must be a whole number from 1 to 32, or int8 / fp16 / fp32; "
                        f"got {bits!r}")
    return int(bits)


def _print_break_even(be: "Any") -> None:
    """Per chip: the twin's energy beside the SNN's, and the break-even rate."""
    from .common.formatting import format_sig  # noqa: PLC0415

    r0 = be.iloc[0]
    _prose(f"against the ANN twin ({r0['twin_bits']}-bit activations, priced at "
           f"{r0['twin_precision']}; the SNN at --precision; {r0['mode']} convention; SNN "
           "energy at its measured input rate in the rate convention), per sample:")
    for r in be.itertuples(index=False):
        saves = (f"saves {r.ann_over_snn:.3g}x" if r.ann_over_snn >= 1 else
                 f"costs {1 / r.ann_over_snn:.3g}x more")
        star = (f"breaks even at input rate {r.break_even_rate:.3g}" if r.break_even_rate ==
                r.break_even_rate else r.reason)
        _prose(f"  {r.hw}: SNN {format_sig(r.snn_pj / 1e6)} uJ, twin "
               f"{format_sig(r.ann_pj / 1e6)} uJ: the SNN {saves} at the measured input rate "
               f"{r.measured_rate:.3g}; {star}", indent="    ")


def _count_options(integer_spikes: str) -> "Any":
    """``--integer-spikes`` as :class:`~energymodel.CountOptions` (a bad value: one error line)."""
    from .counting.operands import CountOptions  # noqa: PLC0415

    if integer_spikes not in ("acs", "mac"):
        raise UserError(f"--integer-spikes must be 'acs' or 'mac', got {integer_spikes!r}")
    return CountOptions(integer_spikes=integer_spikes)


def _help(doc: str | None) -> str:
    """Help text for typer's rich output, which keeps single line breaks: prose paragraphs are
    joined into one line each (rich wraps them to the terminal), example paragraphs keep one
    command per line (a line not starting with ``energymodel`` continues the one above)."""
    import inspect  # noqa: PLC0415

    paras = inspect.cleandoc(doc or "").split("\n\n")
    out = []
    for p in paras:
        lines = [ln.strip() for ln in p.splitlines() if ln.strip()]
        if lines and lines[0].startswith("energymodel "):
            cmds: list[str] = []
            for ln in lines:
                if ln.startswith("energymodel ") or not cmds:
                    cmds.append(ln)
                else:
                    cmds[-1] += " " + ln
            out.append("\n".join(cmds))
        else:
            out.append(" ".join(lines))
    return "\n\n".join(out)


def _command(name: str) -> Callable:
    """``@app.command(name)`` with the docstring reflowed by :func:`_help`."""

    def deco(fn: Callable) -> Callable:
        return app.command(name, help=_help(fn.__doc__))(fn)

    return deco


def _user_errors(fn: Callable) -> Callable:
    """Run a command; a user error becomes one line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (UserError, _hw.HardwareError) as e:
            if os.environ.get("ENERGYMODEL_DEBUG") and e.__cause__ is not None:
                import traceback  # noqa: PLC0415  (the user's own error, in full)

                traceback.print_exception(e.__cause__, file=sys.stderr)
            typer.echo(f"error: {' '.join(str(e).split())}", err=True)
            raise typer.Exit(2)

    return wrapper


_HW_HELP = "hardware profile: a shipped name (energymodel hw list) or a YAML file; repeat"
_MODE_HELP = "pricing convention: paper (E_MAC x MACs + E_AC x SOPs) or full (Lemaire et al. 2022)"
_SOPS_HELP = ("synaptic ops: exact (counted on the spikes), rate (firing rate x dense ops, the "
              "literature's estimate) or lemaire (fan-out estimate)")
_PREC_HELP = "arithmetic precision of the MAC/AC energies (fp32, fp16, int8, int32, ...)"
_OUT_HELP = "write the table here; the format follows the suffix: .csv .json .md .tex"
_MEM_HELP = ("GiB the planned tensors may take (default: half the machine's memory, or "
             "ENERGYMODEL_MEMORY_GB); larger requests are refused before they run")


def _check_compare_args(tokens: int, dim: int, heads: int, timesteps: int, rate: float,
                        seed: int, memory_budget: Optional[float]) -> None:
    """The sizes, rate and seed of ``compare``, checked before anything runs."""
    from .common import checks  # noqa: PLC0415

    checks.check_positive(tokens=tokens, dim=dim, heads=heads, timesteps=timesteps)
    if not 0.0 <= rate <= 1.0:
        raise UserError(f"--rate must be within [0, 1] (got {rate})")
    checks.check_seed(seed)
    checks.check_memory(checks.attention_bytes(tokens, dim, heads, timesteps),
                        f"attention at N={tokens}, D={dim}, H={heads}, T={timesteps}",
                        checks.budget_bytes(memory_budget))
_DATA_HELP = ("your data: a tensor file (.pt/.pth read with torch.load(weights_only=True): a "
              "tensor or (inputs, labels); .npy; .npz), an image folder (class subfolders of "
              "PNG/JPEG, resized to --input-shape, scaled to [0,1]) or module:callable returning "
              "batches or a DataLoader; replaces --input")
_MODEL_ARG_HELP = ("constructor argument key=value, repeatable; values are Python literals, "
                   "pkg.mod:name (that object) or pkg.mod:name() (called); other words are strings")
_RATES_HELP = ("also price at these firing rates: a CSV of pattern,rate rows (a regular "
               "expression matched in full against site keys or layer names; first match wins), "
               "literature convention (rate x dense ops)")


@_command("profile")
@_user_errors
def profile_cmd(
    model: str = typer.Argument(..., help="zoo name (e.g. sdt-8-512), package.module:callable "
                                "returning an nn.Module, or a NIR graph file (.nir)"),
    hw: List[str] = typer.Option(["cmos45nm"], "--hw", help=_HW_HELP),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c",
                                              help="weights, read with torch.load(weights_only=True)"),
    input_shape: Optional[str] = typer.Option(None, "--input-shape",
                                              help="one sample's shape, e.g. 3,224,224 (default: "
                                              "the zoo config or the model's input_shape)"),
    input: str = typer.Option("random", "--input", help="input generator: random (uniform "
                              "[0,1) images), normal, spikes:RATE"),
    timesteps: Optional[int] = typer.Option(None, "--timesteps", "-T",
                                            help="timesteps T (zoo default otherwise)"),
    batch_size: int = typer.Option(1, "--batch-size", "-b", help="samples per batch"),
    batches: Optional[int] = typer.Option(None, "--batches", "-n",
                                          help="batches to profile (counts are summed, rates "
                                          "averaged; default 1 generated batch, or all --data)"),
    mode: str = typer.Option("paper", "--mode", help=_MODE_HELP),
    sops: str = typer.Option("exact", "--sops", help=_SOPS_HELP),
    precision: str = typer.Option("fp32", "--precision", help=_PREC_HELP),
    seed: int = typer.Option(0, "--seed", help="seed of the input generator"),
    calibrate: Optional[bool] = typer.Option(
        None, "--calibrate/--no-calibrate",
        help="set BatchNorm statistics from the first batch (default: for zoo models without "
        "a checkpoint, whose random weights otherwise leave the neurons silent)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help=_OUT_HELP),
    layers: bool = typer.Option(True, "--layers/--no-layers", help="print the per-layer table"),
    depth: Optional[int] = typer.Option(None, "--depth", help="group the per-layer "
                                        "table by module depth (1: patch_embed, block, head; "
                                        "2: block.0, ...), like torchinfo"),
    sort_by: Optional[str] = typer.Option(None, "--sort-by", help="the chip whose energy "
                                          "ranks --top (default: the first --hw)"),
    top: Optional[int] = typer.Option(None, "--top", help="show only the K most "
                                      "expensive rows (sites, or groups with --depth)"),
    strict: bool = typer.Option(False, "--strict", help="exit with code 3 when the run draws a "
                                "warning (silent or saturated layers, ops without a count rule, "
                                "uncalibrated weights...), after writing the report"),
    vs_ann: bool = typer.Option(False, "--vs-ann", help="also price the ANN twin (every "
                                "spiking neuron a quantized ReLU, run once) and print the "
                                "break-even firing rate per chip"),
    ann_bits: Optional[str] = typer.Option(None, "--ann-bits", help="the twin's activation "
                                           "bits (default ceil(log2(T+1))), or int8 / fp16 / "
                                           "fp32; implies --vs-ann"),
    integer_spikes: str = typer.Option("acs", "--integer-spikes", help="integer spike inputs "
                                       "(a residual sum of spikes: 0, 1, 2...): 'acs' counts a "
                                       "value k as k accumulates, 'mac' as one MAC per non-zero "
                                       "element"),
    memory_budget: Optional[float] = typer.Option(None, "--memory-budget", help=_MEM_HELP),
    data: Optional[str] = typer.Option(None, "--data", "-d", help=_DATA_HELP),
    normalize: Optional[str] = typer.Option(None, "--normalize", help="image folders: 'mean,std' "
                                            "or C means then C stds, applied after scaling to [0,1]"),
    time_major: bool = typer.Option(False, "--time-major", help="--data is event data with T "
                                    "leading: [T, N, ...], batches [T, B, ...]"),
    model_arg: List[str] = typer.Option([], "--model-arg", help=_MODEL_ARG_HELP),
    model_kwargs: Optional[Path] = typer.Option(None, "--model-kwargs", help="constructor "
                                                "arguments as a JSON or YAML mapping"),
    rates: Optional[Path] = typer.Option(None, "--rates", help=_RATES_HELP),
    nir_dt: Optional[float] = typer.Option(None, "--nir-dt", help="NIR graphs: the step in "
                                           "seconds when the graph's metadata has no dt"),
    neurobench: bool = typer.Option(False, "--neurobench", help="print NeuroBench 2.3's "
                                    "workload metrics per sample (--out .json always has them)"),
) -> None:
    """Profile a model on your data (or generated inputs) and price it on one or more chips.

    Prints a per-layer table (rates, MACs, ACs, energy per chip; --depth N groups it by
    module, --top K keeps the K most expensive rows), the totals per sample and the hardware
    cost estimate, each table in one readable unit named in its header; --out writes the
    report (.csv: per layer in pJ, .json: everything, .md: totals and layers, .tex: the paper
    table). Implausible runs print one "warning: ..." line each on stderr (see
    Profile.diagnostics); --strict makes them exit code 3.

    Examples:

    energymodel profile sdt-1-64-tiny --hw cmos45nm --hw loihi --hw fpga --timesteps 2
    energymodel profile sdt-8-512 --hw cmos45nm --hw loihi --timesteps 4 --out sdt.csv
    energymodel profile sdt-8-512 --depth 2 --top 10
    energymodel profile mypkg.models:my_snn --checkpoint ckpt.pth --input-shape 3,224,224
      --batches 20 --out my.tex
    energymodel profile mypkg.models:my_snn --mode full --hw ./mychip.yaml --input spikes:0.1
    energymodel profile model.nir --input spikes:0.2 -T 16 --hw loihi --nir-dt 1e-3 --neurobench
    energymodel profile mypkg.models:my_snn -c ckpt.pth --data val_subset.pt -b 32 -n 10
    energymodel profile mypkg.models:my_snn --data ./val_images/ --input-shape 3,224,224
      --normalize 0.5,0.25
    energymodel profile spikingjelly.activation_based.model.parametric_lif_net:MNISTNet
      --model-arg spiking_neuron=spikingjelly.activation_based.neuron:LIFNode
      --model-arg surrogate_function=spikingjelly.activation_based.surrogate:ATan()
      --input-shape 1,28,28
    energymodel profile sdt-8-512 --rates table_s1.csv --hw cmos45nm
    """
    from .report import tables  # noqa: PLC0415
    from .workflow import parse_model_args, profile_model_spec  # noqa: PLC0415

    tables.check_output_path(out)
    _check_view_args(depth, top)
    if sort_by is not None:  # before any work: a chip among --hw (its name or file stem)
        given = [Path(h).stem if str(h).endswith((".yaml", ".yml")) else str(h) for h in hw]
        if sort_by not in given:
            raise UserError(f"--sort-by {sort_by!r} is not among the chips given "
                            f"(--hw {', '.join(given)})")
    rules = _read_rates(rates)
    kwargs = parse_model_args(model_arg, model_kwargs)
    run = profile_model_spec(model, hw, checkpoint=checkpoint, input_shape=input_shape,
                             input=input, timesteps=timesteps, batch_size=batch_size,
                             batches=batches, mode=mode, seed=seed, calibrate=calibrate,
                             progress=sys.stderr.isatty(),
                             estimate_options={"sops": sops, "precision": precision},
                             memory_budget=memory_budget,
                             data=data, normalize=normalize, time_major=time_major,
                             model_kwargs=kwargs, nir_dt=nir_dt,
                             count_options=_count_options(integer_spikes),
                             vs_ann=_vs_ann(vs_ann, ann_bits))
    rep, prof, st = run.report, run.profile, run.settings
    inputs = {"inputs": st["inputs"], "samples": st["samples"], "batches": st["batches"]}
    _prose(f"{st['model']}: {prof.samples} sample(s) in {st['batches']} batch(es), "
               f"T={st['timesteps'] if st['timesteps'] is not None else '? (no neuron recognised)'}"
               f", inputs: {st['inputs']}, sample shape "
               f"{tuple(st['input_shape'])}"
               + (", BatchNorm calibrated (random weights)" if st["calibrated_bn"] else "")
               + (", nothing calibrated: no BatchNorm (--calibrate sets BatchNorm statistics "
                  "only; LayerNorm and the weights stay as they are)"
                  if st.get("calibrate_nothing") else "")
               + (f", weights {st['checkpoint']}" if st["checkpoint"] else ""))
    if st.get("hypothetical"):
        _prose(f"note: {st['hypothetical']}")
    _prose(f"{rep.convention()}")
    _prose(f"hardware files: {rep.hardware_files()}")
    _print_profile_tables(prof, rep, layers=layers, depth=depth, top=top, sort_by=sort_by)
    if prof.unrecognized:
        _prose("ops without a count rule (not counted): "
               + ", ".join(f"{k} x{v}" for k, v in sorted(prof.unrecognized.items())))
    if rep.break_even is not None:
        _print_break_even(rep.break_even)
    spread = _rate_spread_line(prof)
    if spread:
        typer.echo(spread)
    meta: dict = dict(inputs)
    sp = prof.rate_spread()
    if len(sp) and int(sp["batches"].max()) > 1:
        meta["rate_spread"] = sp
    if rules is not None:
        meta["at_rates"] = _echo_at_rates(prof, rules, rep, rates)
    nb = prof.neurobench() if neurobench or (out is not None and tables.format_of(out) == "json") \
        else None
    if neurobench:
        _echo_neurobench(nb)
    if out is not None:
        if tables.format_of(out) == "json":  # NeuroBench's metrics beside the report
            meta["neurobench"] = nb
        tables.write_energy_report(rep, out, caption=f"{st['model']}: energy per sample "
                                   f"({rep.human_totals()[1]}); "
                                   f"{rep.convention().replace('; energy per sample', '')}; inputs: "
                                   f"{st['inputs']}, {st['samples']} sample(s) in "
                                   f"{st['batches']} batch(es).", meta=meta)
        typer.echo(f"wrote {out}")
    if _print_warnings(rep.diagnostics) and strict:
        raise typer.Exit(3)


def _read_rates(path: Optional[Path]):
    if path is None:
        return None
    from .pricing.audit import read_rates  # noqa: PLC0415

    return read_rates(path)


def _rate_spread_line(prof) -> str:
    """One line on the per-batch spread of the neuron firing rates (nothing for one batch)."""
    sp = prof.rate_spread()
    if not len(sp) or int(sp["batches"].max()) < 2:
        return ""
    w = (sp["rate_max"] - sp["rate_min"])
    i = int(w.to_numpy().argmax())
    return (f"per-batch firing-rate spread over {int(sp['batches'].max())} batches: widest at "
            f"{sp['layer'].iloc[i]} ({sp['rate_min'].iloc[i]:.3f}-{sp['rate_max'].iloc[i]:.3f}), "
            f"median width {float(w.median()):.3f}")


def _echo_at_rates(prof, rules, rep, path) -> dict:
    """Price at the rates of a rates file, print it beside the measured totals; return it for
    the report."""
    from .pricing.audit import price_at_rates  # noqa: PLC0415
    from .report import tables  # noqa: PLC0415

    at, rp = price_at_rates(prof, rules, rep.hardware, precision=rep.precision)
    for w in rp.warnings():
        _err(f"warning: {w}")
    t = tables.totals_table(at)
    measured = dict(zip(rep.totals["hardware"], rep.totals["total_mj"]))
    t["measured_mj"] = t["hardware"].map(measured)
    from .report import terminal  # noqa: PLC0415

    shown, kw = terminal.at_rates_view(t)
    typer.echo(f"at the rates of {path} ({at.convention()}), per sample:")
    typer.echo(terminal.render(shown, **kw))
    return {"file": str(path), "convention": at.convention(), "totals": t,
            "rates": rp.rates, "unmatched": rp.unmatched}


@_command("audit")
@_user_errors
def audit_cmd(
    model: str = typer.Argument(..., help="zoo name (e.g. sdt-8-512) or package.module:callable"),
    published: str = typer.Option(..., "--published", "-p", help="the published energy per "
                                  "image, e.g. 4.50mJ (J, mJ, uJ, nJ, pJ; a bare number is mJ)"),
    hw: List[str] = typer.Option(["cmos45nm"], "--hw", help=_HW_HELP),
    timesteps: Optional[int] = typer.Option(None, "--timesteps", "-T",
                                            help="timesteps T (zoo default otherwise)"),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c",
                                              help="weights, read with torch.load(weights_only=True)"),
    data: Optional[str] = typer.Option(None, "--data", "-d", help=_DATA_HELP),
    input_shape: Optional[str] = typer.Option(None, "--input-shape", help="one sample's shape"),
    batch_size: int = typer.Option(1, "--batch-size", "-b", help="samples per batch"),
    batches: Optional[int] = typer.Option(None, "--batches", "-n", help="batches to run"),
    model_arg: List[str] = typer.Option([], "--model-arg", help=_MODEL_ARG_HELP),
    precision: str = typer.Option("fp32", "--precision", help=_PREC_HELP),
    seed: int = typer.Option(0, "--seed", help="seed of the input generator"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help=_OUT_HELP),
) -> None:
    """The uniform firing rate a published energy implies, next to the rate measured here.

    Literature convention: E = E_MAC x encoder MACs + E_AC x rate x dense ops of every
    spike-driven synaptic and attention layer. The implied rate is given with the encoder's
    MACs on all T steps (as it runs) and charged once; the measured rate is the dense-op
    weighted input rate on the given data or checkpoint (random weights with calibrated
    BatchNorm otherwise). --out .json carries implied_rate.

    Examples:

    energymodel audit sdt-8-512 --published 4.50mJ --hw cmos45nm -T 4
    energymodel audit mypkg.models:my_snn -c ckpt.pth --data val.pt --published 1.2mJ
      --out audit.json
    """
    from .pricing.audit import audit, parse_energy  # noqa: PLC0415
    from .report import tables, terminal  # noqa: PLC0415
    from .report.terminal import format_count  # noqa: PLC0415
    from .workflow import parse_model_args, profile_model_spec  # noqa: PLC0415

    tables.check_output_path(out)
    mj = parse_energy(published)
    run = profile_model_spec(model, hw, checkpoint=checkpoint, input_shape=input_shape,
                             timesteps=timesteps, batch_size=batch_size, batches=batches,
                             seed=seed, data=data, model_kwargs=parse_model_args(model_arg),
                             estimate_options={"precision": precision},
                             progress=sys.stderr.isatty())
    st = run.settings
    df = audit(run.profile, mj, run.report.hardware, precision=precision, timesteps=st["timesteps"])
    r0 = df.iloc[0]
    _prose(f"{st['model']}: T={int(r0['T'])}, {st['samples']} sample(s), inputs: {st['inputs']}"
           + (f", weights {st['checkpoint']}" if st["checkpoint"] else
              ", random weights" + (" (BatchNorm calibrated)" if st["calibrated_bn"] else "")))
    _prose(f"encoder {r0['encoder'] or '(none)'}: {format_count(r0['encoder_macs'])} MACs "
               f"per sample ({format_count(r0['encoder_macs_per_step'])} per step)"
               + (f"; other analog-input MACs {format_count(r0['other_analog_macs'])}"
                  if r0["other_analog_macs"] else "") + "; spike-driven dense "
               f"ops: {format_count(r0['dense_ops'])} ({format_count(r0['dense_ops_per_step'])}"
               " per step)")
    shown, kw = terminal.audit_view(df)
    typer.echo(terminal.render(shown, title=f"published {mj:g} mJ per image, "
                               f"literature convention, precision {precision}", **kw))
    if r0["integer_input_share"] > 0:
        _err(f"warning: {r0['integer_input_share']:.0%} of the spike-driven dense ops read "
             "integer spikes (sums of spikes): rates count their non-zeros, the exact count "
             "k ops for a value k (column Exact SOPs)")
    for r in df.itertuples(index=False):
        if r.implied_rate != r.implied_rate:   # NaN: a dense accelerator
            _err(f"note: {r.hardware} is a dense accelerator: its energy does not depend on "
                 "the firing rate, so no rate is implied")
            continue
        for name, v in (("encoder on all T steps", r.implied_rate),
                        ("encoder charged once", r.implied_rate_encoder_once)):
            if not 0.0 <= v <= 1.0:
                _err(f"warning: on {r.hardware} ({name}) no firing rate in [0, 1] gives "
                     f"{mj:g} mJ (implied {v:.4g})")
    if out is not None:
        meta = {"model": st["model"], "published_mj": mj, "implied_rate": float(r0["implied_rate"]),
                "implied_rate_encoder_once": float(r0["implied_rate_encoder_once"]),
                "measured_rate": float(r0["measured_rate"]), "hardware": str(r0["hardware"]),
                "inputs": st["inputs"], "samples": st["samples"], "batches": st["batches"]}
        caption = (f"{st['model']}: uniform firing rate implied by the published {mj:g} mJ "
                   f"(literature convention, {precision}; encoder on all T steps / charged once), "
                   f"next to the measured rate; inputs: {st['inputs']}.")
        if tables.format_of(out) == "json":  # implied_rate at the top level
            from .common import formatting as _tables  # noqa: PLC0415

            _tables.write(out, _tables.to_json_text({**meta, "caption": caption, "rows": df}))
        else:
            tables.write_table(df, out, caption=caption, label="tab:audit", meta=meta,
                               human=[tables.audit_view(df)])
        typer.echo(f"wrote {out}")


def _print_warnings(diag) -> int:
    """Each diagnostic as one ``warning: ...`` (or ``note: ...``) line on stderr (grouped when
    many), folded at the terminal's width (continuation lines indented) when stderr is a
    terminal or ``COLUMNS`` is set, one line each otherwise (logs and pipes: one finding per
    line, for grep); returns how many warnings there were (notes do not fail --strict)."""
    from .counting.diagnostics import warning_lines  # noqa: PLC0415

    for line in warning_lines(diag):
        _err(line)
    return int((diag["level"] == "warning").sum()) if len(diag) else 0


def _print_profile_tables(prof, rep, *, layers: bool, depth: Optional[int],
                          top: Optional[int], sort_by: Optional[str] = None) -> None:
    """The per-layer (or per-module, ``--depth``; ``--top`` K) and totals tables of
    ``profile``, drawn by :mod:`energymodel.report.terminal`."""
    from .report import terminal  # noqa: PLC0415

    labels = {h.name: h.name for h in rep.hardware}  # short ids fit the columns
    if layers:
        try:
            lt, unit, kw = terminal.layer_view(prof, rep, depth=depth, top=top, labels=labels,
                                               sort_by=sort_by)
        except ValueError as e:
            raise UserError(str(e)) from None
        what = "per module (depth %d)" % depth if depth is not None else "per layer"
        ranked = sort_by or str(rep.totals["hardware"].iloc[0])
        typer.echo("")
        typer.echo(terminal.render(lt, title=f"{what}, per sample"
                                   + (f", top {top} by energy on {ranked}" if top else "")
                                   + f"; energy in {unit}", **kw))
    t, unit, kw = terminal.totals_view(rep, labels=labels)
    typer.echo(terminal.render(t, title=f"totals, per sample; energy in {unit}", **kw))
    tech = {h.name for h in rep.hardware if h.kind == "digital"}
    chips = rep.hardware_cost[~rep.hardware_cost["hardware"].isin(tech)]
    if len(chips):  # technologies (cmos45nm) have no mapping: no row, no note
        c, unit, kw = terminal.hardware_cost_view(rep, labels=labels)
        typer.echo(f"hardware cost per sample (estimate: energymodel.pricing.mapping); "
                   f"energy in {unit}")
        typer.echo(terminal.render(c, **kw))
        for h, n in zip(chips["hardware"], chips["notes"]):
            _prose(f"  {h}: {n}", indent="    ")


def _check_view_args(depth: Optional[int], top: Optional[int]) -> None:
    """--depth (>= 0) and --top (>= 1), checked before anything runs (one error line)."""
    from .common import checks  # noqa: PLC0415

    if depth is not None and depth < 0:
        raise UserError(f"--depth must be an integer >= 0 (got {depth})")
    checks.check_positive(top=top)


def _echo_neurobench(nb: dict) -> None:
    """NeuroBench's metrics, one row each (per sample), drawn by the terminal renderer: counts
    at three significant figures with k / M / G, sparsities at three figures; the exact values
    are in ``--out x.json``."""
    from .report import terminal  # noqa: PLC0415

    shown, kw = terminal.neurobench_view(nb)
    typer.echo(f"NeuroBench 2.3 workload metrics, per sample ({nb['convention']} convention):")
    typer.echo(terminal.render(shown, **kw))
    for n in nb["notes"]:
        typer.echo(f"  note: {n}")


@_command("compare")
@_user_errors
def compare_cmd(
    tokens: int = typer.Option(196, "--tokens", "-N", help="tokens N"),
    dim: int = typer.Option(512, "--dim", "-D", help="embedding dimension D"),
    heads: int = typer.Option(8, "--heads", "-H", help="attention heads"),
    timesteps: int = typer.Option(4, "--timesteps", "-T", help="timesteps of the "
                                  "spiking blocks (vanilla runs one step)"),
    rate: float = typer.Option(0.2, "--rate",
                               help="firing rate of the seeded Bernoulli spike input"),
    seed: int = typer.Option(0, "--seed", help="seed of the input and the weights"),
    hw: List[str] = typer.Option(["cmos45nm"], "--hw", help=_HW_HELP),
    mode: str = typer.Option("paper", "--mode", help=_MODE_HELP),
    sops: str = typer.Option("exact", "--sops", help=_SOPS_HELP),
    precision: str = typer.Option("fp32", "--precision", help=_PREC_HELP),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help=_OUT_HELP),
    memory_budget: Optional[float] = typer.Option(None, "--memory-budget", help=_MEM_HELP),
) -> None:
    """Compare vanilla, SSA, SDSA and SASA attention at one shape on the same spike input.

    Per mechanism: measured MACs, ACs, firing rates, energy per chip and the ratio to vanilla
    (whole block, and the attention core alone). Vanilla runs one step on the analog
    time-average of the spike input.

    Examples:

    energymodel compare --tokens 196 --dim 512 --heads 8 --timesteps 4 --hw cmos45nm
      --hw loihi --hw fpga --out cmp.json
    energymodel compare --tokens 1024 --rate 0.1 --mode full --out cmp.tex
    """
    from .report import tables  # noqa: PLC0415
    from .report.compare import compare_attention  # noqa: PLC0415

    tables.check_output_path(out)
    _check_compare_args(tokens, dim, heads, timesteps, rate, seed, memory_budget)
    df = compare_attention(tokens, dim, heads, timesteps, hw, rate=rate, seed=seed, mode=mode,
                           sops=sops, precision=precision)
    from .common.checks import check_finite  # noqa: PLC0415

    check_finite(df, "attention comparison")
    _prose(df.attrs["caption"])
    typer.echo("")
    from .report.terminal import show_comparison  # noqa: PLC0415

    typer.echo(show_comparison(df))
    if out is not None:
        from .report.compare import counts_view, energy_view  # noqa: PLC0415

        tables.write_table(df, out, caption=df.attrs["caption"], label="tab:attention",
                           meta=df.attrs["settings"],
                           human=[tables.HumanTable(counts_view(df), "Counts per sample"),
                                  tables.HumanTable(energy_view(df), "Energy per sample", 2)])
        typer.echo(f"wrote {out}")


@_command("report")
@_user_errors
def report_cmd(
    out_dir: Path = typer.Option(Path("reports"), "--out-dir", "-o",
                                 help="folder for the tables and figures (created)"),
    quick: bool = typer.Option(False, "--quick", help="small models and shapes only (seconds; "
                               "for tests), not the committed reports"),
) -> None:
    """Regenerate every paper-style table and figure (PNG and PDF) and reports/README.md.

    Examples:

    energymodel report --out-dir reports/
    energymodel report --out-dir /tmp/r --quick
    """
    from .report.build import build_reports  # noqa: PLC0415

    files = build_reports(out_dir, quick=quick, log=lambda m: typer.echo(m, err=True))
    typer.echo(f"wrote {len(files)} files to {out_dir}")


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
