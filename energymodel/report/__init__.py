"""Reporting: tables for people and papers, the attention comparison, figures, and the
``energymodel report`` build. Top of the flow: it reads Profiles and EnergyReports, never
counts or prices by itself.

* :mod:`.tables`: per-layer energy tables; CSV / JSON (full precision, ``*_pj`` columns) and
  Markdown / LaTeX (human headers, one unit a table, three significant figures) by suffix.
* :mod:`.terminal`: rich tables that fit the terminal (energy never dropped), ``--depth`` /
  ``--top`` views of a profile.
* :mod:`.compare`: :func:`compare_attention`, the four attention mechanisms at one shape.
* :mod:`.figures`: the five paper figures (PNG and PDF, Okabe-Ito colours).
* :mod:`.build`: :func:`build_reports`, every table and figure of ``reports/``.

``figures`` and ``build`` import matplotlib; they are loaded on first use.
"""

from __future__ import annotations

from .compare import compare_attention
from .tables import layer_energy_table, totals_table, write_energy_report, write_table


def build_reports(*args, **kwargs):
    """See :func:`energymodel.report.build.build_reports` (imported lazily: matplotlib)."""
    from .build import build_reports as _build  # noqa: PLC0415

    return _build(*args, **kwargs)


__all__ = [
    "compare_attention",
    "build_reports",
    "layer_energy_table",
    "totals_table",
    "write_energy_report",
    "write_table",
]
