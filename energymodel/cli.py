"""The ``energymodel`` command line: thin wrappers over the public API.

``profile`` (:func:`energymodel.workflow.profile_model_spec`), ``compare``
(:func:`energymodel.report.compare.compare_attention`), ``report``
(:func:`energymodel.report.build.build_reports`) and the ``hw`` sub-app. A user error
(:class:`~energymodel.errors.UserError`, a bad hardware profile) prints one line ``error: ...``
on stderr and exits with code 2, writing no file; typer's own usage errors also exit with 2.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Callable, List, Optional

import typer

from . import hardware as _hw
from .errors import UserError

app = typer.Typer(
    name="energymodel",
    help="Measured op counts and hardware-priced energy for spiking neural networks.",
    no_args_is_help=True,
    add_completion=False,
)

hw_app = typer.Typer(help="Hardware profiles: list, show, validate.", no_args_is_help=True)
app.add_typer(hw_app, name="hw")


@app.callback()
def _root() -> None:
    """energymodel: what your SNN costs in energy on real hardware."""


@hw_app.command("list")
def hw_list() -> None:
    """Shipped (and ENERGYMODEL_HWPROFILES) profiles, one line each: name, node, source."""
    for name in _hw.list_hardware():
        try:
            p = _hw.load_hardware(name)
        except _hw.HardwareError as e:
            typer.echo(f"{name:<12} INVALID: {e}")
            continue
        first = next(iter(p.sources.values()), "").replace("\n", " ")
        short = first if len(first) <= 70 else first[:67] + "..."
        node = f"{p.technology_node_nm:g} nm"
        typer.echo(f"{name:<12} {node:>6}  {p.kind:<12} {short}")


@hw_app.command("show")
def hw_show(name: str = typer.Argument(..., help="profile name or path to a YAML file")) -> None:
    """Every constant of a profile with unit, range and citation."""
    try:
        p = _hw.load_hardware(name)
    except _hw.HardwareError as e:  # bad input, like every other command: one line, exit 2
        typer.echo(f"error: {' '.join(str(e).split())}", err=True)
        raise typer.Exit(2)
    typer.echo(f"{p.name}: {p.description}")
    typer.echo(f"file: {p.path}")
    typer.echo(f"node: {p.technology_node_nm:g} nm   kind: {p.kind}   all_in: {p.all_in}   "
               f"includes_memory: {p.includes_memory}   host: {p.host or '-'}")
    typer.echo("sources:")
    for k, v in p.sources.items():
        typer.echo(f"  [{k}] {' '.join(v.split())}")
    typer.echo("constants:")
    df = p.constants()
    for r in df.itertuples(index=False):
        what = f"{r.section}.{r.name}" + (f".{r.precision}" if r.precision else "")
        if r.capacity_bytes == r.capacity_bytes and r.capacity_bytes is not None:
            what += f" @{int(r.capacity_bytes)} B"
        rng = f" [{r.low:g} .. {r.high:g}]" if (r.low != r.value or r.high != r.value) else ""
        width = f" {int(r.width_bits)}-bit" if r.width_bits == r.width_bits and r.width_bits else ""
        flag = " (interpolated)" if r.interpolated else ""
        typer.echo(f"  {what:<34} {r.value:>9g} {r.unit}{rng}{width}{flag}  -- {r.citation}")
        entry = _raw_entry(p, r.section, r.name, r.precision)
        for key in ("note", "derivation"):
            if key in entry:
                for i, ln in enumerate(str(entry[key]).strip().splitlines()):
                    typer.echo(f"      {key + ':' if i == 0 else '':<12} {ln.strip()}")


def _raw_entry(p: "_hw.HardwareProfile", section: str, name: str, precision: str) -> dict:
    if section == "events":
        return p.data["events"][name]
    if section == "arithmetic":
        return p.data["arithmetic"][name][precision]
    if section == "dram":
        return p.data["dram"]
    return {}


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
            typer.echo(f"error: {' '.join(str(e).split())}", err=True)
            raise typer.Exit(2)

    return wrapper


_HW_HELP = "hardware profile: a shipped name (energymodel hw list) or a YAML file; repeat"
_MODE_HELP = "pricing convention: paper (E_MAC x MACs + E_AC x SOPs) or full (Lemaire et al. 2022)"
_SOPS_HELP = ("synaptic ops: exact (counted on the spikes), rate (firing rate x dense ops, the "
              "literature's estimate) or lemaire (fan-out estimate)")
_PREC_HELP = "arithmetic precision of the MAC/AC energies (fp32, fp16, int8, int32, ...)"
_OUT_HELP = "write the table here; the format follows the suffix: .csv .json .md .tex"


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
    timesteps: Optional[int] = typer.Option(None, "--timesteps", "-T", min=1,
                                            help="timesteps T (zoo default otherwise)"),
    batch_size: int = typer.Option(1, "--batch-size", "-b", min=1, help="samples per batch"),
    batches: int = typer.Option(1, "--batches", "-n", min=1,
                                help="batches to profile (counts are summed, rates averaged)"),
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
    nir_dt: Optional[float] = typer.Option(None, "--nir-dt", help="NIR graphs: the step in "
                                           "seconds when the graph's metadata has no dt"),
    neurobench: bool = typer.Option(False, "--neurobench", help="print NeuroBench 2.3's "
                                    "workload metrics per sample (--out .json always has them)"),
) -> None:
    """Profile a model on generated inputs and price it on one or more chips.

    Prints a per-layer table (rates, MACs, ACs, energy per chip) and the totals in mJ per
    sample; --out writes the report (.csv: per layer, .json: everything, .md: totals and
    layers, .tex: the paper table).

    Examples:

    energymodel profile sdt-1-64-tiny --hw cmos45nm --hw loihi --hw fpga --timesteps 2
    energymodel profile sdt-8-512 --hw cmos45nm --hw loihi --timesteps 4 --out sdt.csv
    energymodel profile mypkg.models:my_snn --checkpoint ckpt.pth --input-shape 3,224,224
      --batches 20 --out my.tex
    energymodel profile mypkg.models:my_snn --mode full --hw ./mychip.yaml --input spikes:0.1
    energymodel profile model.nir --input spikes:0.2 -T 16 --hw loihi --nir-dt 1e-3 --neurobench
    """
    from .report import tables  # noqa: PLC0415
    from .workflow import profile_model_spec  # noqa: PLC0415

    tables.check_output_path(out)
    run = profile_model_spec(model, hw, checkpoint=checkpoint, input_shape=input_shape,
                             input=input, timesteps=timesteps, batch_size=batch_size,
                             batches=batches, mode=mode, seed=seed, calibrate=calibrate,
                             progress=sys.stderr.isatty() or batches > 1,
                             estimate_options={"sops": sops, "precision": precision},
                             nir_dt=nir_dt)
    rep, prof, st = run.report, run.profile, run.settings
    typer.echo(f"{st['model']}: {prof.samples} sample(s), T={st['timesteps']}, input "
               f"{st['input']} {tuple(st['input_shape'])}"
               + (", BatchNorm calibrated (random weights)" if st["calibrated_bn"] else "")
               + (f", weights {st['checkpoint']}" if st["checkpoint"] else ""))
    typer.echo(f"{rep.convention()}")
    if layers:
        unit = tables.layer_unit(rep)
        lt = tables.layer_energy_table(prof, rep, energy_unit=unit)
        shown = tables.terminal_rows(lt).drop(columns=["layer", "in_kind"])
        shown = shown.rename(columns=lambda c: c.split("[", 1)[1].rstrip("]")
                             if c.startswith("energy_") else c.replace("neuron_updates", "updates"))
        typer.echo(f"\nper layer, per sample (counts; energy per chip in {unit}):")
        typer.echo(tables.format_terminal(shown))
    typer.echo("totals, per sample (mJ):")
    typer.echo(tables.format_terminal(tables.totals_table(rep)))
    if prof.unrecognized:
        typer.echo("ops without a count rule (not counted): "
                   + ", ".join(f"{k} x{v}" for k, v in sorted(prof.unrecognized.items())))
    if neurobench:
        _echo_neurobench(prof.neurobench())
    if out is not None:
        if tables.format_of(out) == "json":  # the report plus NeuroBench's metrics, one write
            from . import _tables as _t  # noqa: PLC0415

            _t.write(out, _t.to_json_text({**rep.to_dict(), "neurobench": prof.neurobench()}))
        else:
            tables.write_energy_report(rep, out, caption=f"{st['model']}: energy per sample "
                                       f"(mJ); {rep.convention()}.")
        typer.echo(f"wrote {out}")


def _echo_neurobench(nb: dict) -> None:
    """NeuroBench's metrics, one per line (per sample)."""
    typer.echo(f"NeuroBench 2.3 workload metrics, per sample ({nb['convention']} convention):")
    for k, v in nb["SynapticOperations"].items():
        typer.echo(f"  SynapticOperations.{k:<15} {v:.6g}")
    for k in ("ActivationSparsity", "MembraneUpdates", "Footprint", "ConnectionSparsity"):
        v = nb[k]
        typer.echo(f"  {k:<34} {'unknown' if v is None else format(v, '.6g')}"
                   + (" bytes" if k == "Footprint" and v is not None else ""))
    for n in nb["notes"]:
        typer.echo(f"  note: {n}")


@_command("compare")
@_user_errors
def compare_cmd(
    tokens: int = typer.Option(196, "--tokens", "-N", min=1, help="tokens N"),
    dim: int = typer.Option(512, "--dim", "-D", min=1, help="embedding dimension D"),
    heads: int = typer.Option(8, "--heads", "-H", min=1, help="attention heads"),
    timesteps: int = typer.Option(4, "--timesteps", "-T", min=1, help="timesteps of the "
                                  "spiking blocks (vanilla runs one step)"),
    rate: float = typer.Option(0.2, "--rate", min=0.0, max=1.0,
                               help="firing rate of the seeded Bernoulli spike input"),
    seed: int = typer.Option(0, "--seed", help="seed of the input and the weights"),
    hw: List[str] = typer.Option(["cmos45nm"], "--hw", help=_HW_HELP),
    mode: str = typer.Option("paper", "--mode", help=_MODE_HELP),
    sops: str = typer.Option("exact", "--sops", help=_SOPS_HELP),
    precision: str = typer.Option("fp32", "--precision", help=_PREC_HELP),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help=_OUT_HELP),
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
    df = compare_attention(tokens, dim, heads, timesteps, hw, rate=rate, seed=seed, mode=mode,
                           sops=sops, precision=precision)
    typer.echo(df.attrs["caption"] + "\n")
    typer.echo(tables.format_terminal(tables.transpose(df, "mechanism")))
    if out is not None:
        tables.write_table(df, out, caption=df.attrs["caption"], label="tab:attention",
                           meta=df.attrs["settings"])
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
