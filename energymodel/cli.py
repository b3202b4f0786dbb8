"""The ``energymodel`` command line: thin wrappers over the public API.

Sub-apps are registered on :data:`app`; other commands (profile, compare, report) add their
own ``app.add_typer(...)`` or ``@app.command()`` next to ``hw``.
"""

from __future__ import annotations

from pathlib import Path
from typing import List

import typer

from . import hardware as _hw

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
    except _hw.HardwareError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1)
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


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
