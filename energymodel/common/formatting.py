"""Generic DataFrame -> Markdown / LaTeX (booktabs) / CSV / JSON text, and atomic writing.

No energy logic here: these helpers format whatever table they are given, so reports and the
CLI can reuse them.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from .files import write_text_atomic

__all__ = [
    "ENERGY_UNITS",
    "SIG",
    "pick_energy_unit",
    "pick_count_scale",
    "pick_time_unit",
    "human_frame",
    "whole",
    "format_sig",
    "energy_columns",
    "column_groups",
    "latex_tabular_columns",
    "format_number",
    "to_markdown",
    "to_latex",
    "to_csv_text",
    "to_json_text",
    "write",
]


#: readable energy units and their size in pJ, smallest first
ENERGY_UNITS: tuple[tuple[str, float], ...] = (("pJ", 1.0), ("nJ", 1e3), ("µJ", 1e6),
                                               ("mJ", 1e9), ("J", 1e12))
#: readable count scales (suffix, divisor), smallest first
COUNT_SCALES: tuple[tuple[str, float], ...] = (("", 1.0), ("k", 1e3), ("M", 1e6), ("G", 1e9),
                                               ("T", 1e12))
#: significant figures of every human table (terminal, Markdown, LaTeX): three, so that a
#: regeneration on another machine (other BLAS, other summation order) prints the same text
SIG = 3


def _finite_abs(values: Any) -> np.ndarray:
    a = np.abs(np.asarray(pd.to_numeric(pd.Series(np.ravel(np.asarray(values, dtype=object))),
                                        errors="coerce"), dtype=float))
    return a[np.isfinite(a) & (a > 0)]


def pick_energy_unit(values_pj: Any, prefer: str | None = None) -> tuple[str, float]:
    """The one readable unit for a set of energies in pJ: the largest of pJ, nJ, µJ, mJ, J in
    which the typical value (geometric mean of the non-zero magnitudes) is at least 1, so a
    table spanning decades prints most values between 1 and 999. ``prefer`` forces a unit
    (``uJ`` is accepted for ``µJ``). Returns ``(unit, pJ per unit)``."""
    if prefer is not None:
        want = prefer.replace("u", "µ")
        for u, f in ENERGY_UNITS:
            if u == want:
                return u, f
        raise ValueError(f"unknown energy unit {prefer!r} (use one of "
                         f"{', '.join(u for u, _ in ENERGY_UNITS)})")
    return _pick(values_pj, ENERGY_UNITS)


def _pick(values: Any, scales: tuple[tuple[str, float], ...]) -> tuple[str, float]:
    a = _finite_abs(values)
    if not len(a):
        return scales[0]
    typical = float(np.exp(np.mean(np.log(a))))
    unit = scales[0]
    for u, f in scales:
        if typical >= f * (1 - 5e-4):  # 999.6 pJ rounds to 1.00 nJ at three figures
            unit = (u, f)
    return unit


def pick_count_scale(values: Any) -> tuple[str, float]:
    """``("M", 1e6)`` etc.: the largest scale in which the typical count (geometric mean of
    the non-zero ones) is at least 1."""
    return _pick(values, COUNT_SCALES)


#: readable time units and their size in seconds, smallest first
TIME_UNITS: tuple[tuple[str, float], ...] = (("ns", 1e-9), ("µs", 1e-6), ("ms", 1e-3), ("s", 1.0))


def pick_time_unit(values_s: Any) -> tuple[str, float]:
    """The one readable unit (ns, µs, ms, s) for a set of durations in seconds, by the same
    rule as :func:`pick_energy_unit`. Returns ``(unit, seconds per unit)``."""
    a = np.asarray(pd.to_numeric(pd.Series(np.ravel(np.asarray(values_s, dtype=object))),
                                 errors="coerce"), dtype=float) * 1e9
    u, f = _pick(a, tuple((u, f * 1e9) for u, f in TIME_UNITS))
    return u, f / 1e9


def format_sig(x: Any, sig: int = SIG) -> str:
    """A human number: ``sig`` significant figures (trailing zeros kept: ``9.10``), no exponent
    between 1e-3 and 1e6, otherwise ``1.23e-05``; integers (Python or numpy ints) as they are;
    NaN / None / ``pd.NA`` as ``-``; booleans as yes / no; text as it is."""
    if x is None or x is pd.NA:
        return "-"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        v = float(x)
        if math.isnan(v):
            return "-"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v == 0:
            return "0"
        r = float(f"{v:.{sig}g}")  # rounded to sig figures
        a = abs(r)
        if a < 1e-3 or a >= 1e6:
            return f"{v:.{sig - 1}e}"
        decimals = max(0, sig - 1 - math.floor(math.log10(a)))
        return f"{r:.{decimals}f}"
    return str(x)


def format_number(x: Any, digits: int = SIG) -> str:
    """Alias of :func:`format_sig` (``digits`` significant figures)."""
    return format_sig(x, digits)


def energy_columns(df: pd.DataFrame, headers: dict[str, str] | None = None,
                   unit: str | None = None, suffix: str = "_pj") -> tuple[pd.DataFrame, str]:
    """A copy of ``df`` for people: every ``*_pj`` column (``suffix``) scaled to ONE unit picked
    for the whole table (:func:`pick_energy_unit`) and renamed ``"<header> (<unit>)"``; other
    columns renamed by ``headers`` where given. Returns ``(table, unit)``."""
    headers = headers or {}
    ecols = [c for c in df.columns if str(c).endswith(suffix)]
    u, f = pick_energy_unit(df[ecols].to_numpy() if ecols else [], prefer=unit)
    out = df.copy()
    for c in ecols:
        out[c] = out[c].astype(float) / f
    ren = {}
    for c in df.columns:
        h = headers.get(c, str(c)[: -len(suffix)] if c in ecols else str(c))
        ren[c] = f"{h} ({u})" if c in ecols else h
    return out.rename(columns=ren), u


def whole(values: Any) -> pd.Series:
    """Whole numbers (counts of cores, chips, steps) as a nullable integer column, so that they
    print as ``105``, not ``105.0``; missing values print as ``-``."""
    return pd.Series([pd.NA if v is None or (isinstance(v, float) and math.isnan(v)) else int(v)
                      for v in np.ravel(np.asarray(values, dtype=object))], dtype="Int64")


def _words(name: str) -> str:
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def human_frame(df: pd.DataFrame, headers: dict[str, str] | None = None,
                unit: str | None = None) -> tuple[pd.DataFrame, str]:
    """Any API table for people: its ``*_mj`` and ``*_pj`` columns in ONE readable energy unit
    named in their headers (:func:`energy_columns`), other snake_case names as words
    (``measured_rate`` -> ``Measured rate``) unless ``headers`` names them. Returns
    ``(table, unit)``."""
    out = df.copy()
    ren: dict[Any, str] = {}
    for c in out.columns:
        if str(c).endswith("_mj"):
            out[c] = pd.to_numeric(out[c], errors="coerce") * 1e9
            ren[c] = str(c)[:-3] + "_pj"
    out = out.rename(columns=ren)
    given = {ren.get(k, k): v for k, v in (headers or {}).items()}
    names = {c: given.get(c, _words(str(c)[:-3] if str(c).endswith("_pj") else c))
             for c in out.columns}
    return energy_columns(out, names, unit=unit)


def _cells(df: pd.DataFrame, fmt: Callable[[Any], str]) -> list[list[str]]:
    return [[fmt(v) for v in row] for row in df.itertuples(index=False, name=None)]


def to_markdown(df: pd.DataFrame, digits: int = SIG, align_numbers: bool = True) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned, ``digits`` significant
    figures)."""
    cols = [str(c) for c in df.columns]
    rows = _cells(df, lambda v: format_sig(v, digits).replace("|", "\\|"))
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(cols)]
    def line(vals: Sequence[str]) -> str:
        out = []
        for i, v in enumerate(vals):
            out.append(v.rjust(widths[i]) if (numeric[i] and align_numbers) else v.ljust(widths[i]))
        return "| " + " | ".join(out) + " |"
    sep = "|" + "|".join(
        ("-" * (widths[i] + 1) + ":") if (numeric[i] and align_numbers) else "-" * (widths[i] + 2)
        for i in range(len(cols))
    ) + "|"
    return "\n".join([line(cols), sep] + [line(r) for r in rows]) + "\n"


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "µ": r"$\mu$",
    "×": r"$\times$",
    "²": r"$^2$",
    "ᵀ": r"$^\top$",
    "∝": r"$\propto$",
    "≈": r"$\approx$",
    "–": "--",
    "≤": r"$\le$",
    "≥": r"$\ge$",
}


#: " x " between words in a caption (E_MAC x MACs) is a multiplication sign in print
TIMES = r" $\times$ "


def latex_escape(s: str) -> str:
    """Text for LaTeX: specials escaped, µ × ² and friends as math (plain ``article`` with
    amsmath; no inputenc/unicode package needed)."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in str(s))


def _latex_number(s: str) -> str:
    if "e" in s and s.replace("e", "").replace("-", "").replace("+", "").replace(".", "").isdigit():
        m, e = s.split("e")
        return rf"${m}\times10^{{{int(e)}}}$"
    return latex_escape(s)


def _header_lines(h: str, width: int = 9) -> list[str]:
    """A header in short lines: words packed greedily to ``width`` characters, a parenthesised
    unit on a line of its own."""
    unit = ""
    if " (" in h and h.endswith(")"):
        h, unit = h.rsplit(" (", 1)
        unit = "(" + unit
    lines: list[str] = []
    for w in h.split():
        if lines and len(lines[-1]) + 1 + len(w) <= width:
            lines[-1] += " " + w
        else:
            lines.append(w)
    return lines + ([unit] if unit else [])


def _latex_head(h: str) -> str:
    """A header cell; a long header (or one with a unit) is stacked in short lines, which keeps
    eight columns within the text width."""
    lines = _header_lines(str(h))
    if len(lines) <= 1:
        return latex_escape(str(h))
    return (r"\begin{tabular}[b]{@{}c@{}}" + r" \\ ".join(latex_escape(x) for x in lines)
            + r"\end{tabular}")


#: at most this many columns per LaTeX tabular; wider tables are split (key columns repeated)
MAX_LATEX_COLUMNS = 8


def column_groups(columns: Sequence[str], key: int = 1,
                  max_columns: int = MAX_LATEX_COLUMNS) -> list[list[str]]:
    """Split ``columns`` into groups of at most ``max_columns``, each starting with the first
    ``key`` columns (the row labels), the others in order."""
    cols = list(columns)
    head, rest = cols[:key], cols[key:]
    per = max(1, max_columns - key)
    if not rest:
        return [head]
    return [head + rest[i:i + per] for i in range(0, len(rest), per)]


def to_latex(
    df: pd.DataFrame,
    caption: str | None = None,
    label: str | None = None,
    digits: int = SIG,
    bold_last_row: bool = False,
    key_columns: int = 1,
    max_columns: int = MAX_LATEX_COLUMNS,
) -> str:
    """Booktabs ``table`` environments (needs ``\\usepackage{booktabs}``), ``digits``
    significant figures. A table wider than ``max_columns`` becomes several tables of at most
    that many columns, each repeating the first ``key_columns`` columns; the first carries
    ``caption`` and ``label``, the next ones "(continued)" and ``label-2``, ``label-3``."""
    groups = column_groups([str(c) for c in df.columns], key_columns, max_columns)
    df = df.copy()
    df.columns = [str(c) for c in df.columns]
    parts = []
    for gi, cols in enumerate(groups):
        sub = df[cols]
        numeric = [pd.api.types.is_numeric_dtype(sub[c]) for c in cols]
        spec = "".join("r" if n else "l" for n in numeric)
        head = " & ".join(_latex_head(c) for c in cols) + r" \\"
        body = []
        rows = _cells(sub, lambda v: _latex_number(format_sig(v, digits)))
        for i, r in enumerate(rows):
            if bold_last_row and i == len(rows) - 1:
                body.append(r"\midrule")
                r = [rf"\textbf{{{c}}}" for c in r]
            body.append(" & ".join(r) + r" \\")
        out = [r"\begin{table}[t]", r"\centering", r"\small", r"\setlength{\tabcolsep}{4pt}"]
        if caption:
            cap = caption if gi == 0 else f"{caption.split('. ')[0].rstrip('.')} (continued)."
            # "E_MAC x MACs": the multiplication sign, not a letter x, in print
            cap = latex_escape(cap).replace(" x ", TIMES)
            out.append(rf"\caption{{{cap}}}")
        if label:
            out.append(rf"\label{{{label if gi == 0 else f'{label}-{gi + 1}'}}}")
        out += [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", head, r"\midrule", *body,
                r"\bottomrule", r"\end{tabular}", r"\end{table}"]
        parts.append("\n".join(out) + "\n")
    return "\n".join(parts)


def latex_tabular_columns(text: str) -> list[int]:
    """Column count of every ``tabular`` in a LaTeX text (from its column spec; nested header
    tabulars excluded): lets a test check widths without TeX."""
    import re  # noqa: PLC0415

    return [len(re.sub(r"[^lrc]", "", m)) for m in
            re.findall(r"\\begin\{tabular\}\{([^}]*)\}", text)]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def csv_safe(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula (it begins with ``= + - @``, a tab
    or a carriage return) gets a leading ``'``; numbers, and text that is a plain number such
    as ``-1.5``, are left as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value


def to_csv_text(df: pd.DataFrame) -> str:
    """CSV without the index; text cells that could start a spreadsheet formula are escaped
    (see :func:`csv_safe`), column names included."""
    text_cols = [c for c in df.columns
                 if df[c].dtype == object or pd.api.types.is_string_dtype(df[c])]
    if text_cols or any(isinstance(c, str) and csv_safe(c) != c for c in df.columns):
        df = df.copy()
        for c in text_cols:
            df[c] = df[c].map(csv_safe)
        df.columns = [csv_safe(c) if isinstance(c, str) else c for c in df.columns]
    return df.to_csv(index=False)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)  # NaN and inf: null
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, pd.DataFrame):
        return [_jsonable(r) for r in x.to_dict(orient="records")]
    return x


def to_json_text(obj: Any, indent: int = 2) -> str:
    """JSON of DataFrames (as record lists), dicts, lists and numbers (NaN and inf -> null:
    valid JSON always)."""
    return json.dumps(_jsonable(obj), indent=indent, allow_nan=False) + "\n"


def write(path: str | os.PathLike, text: str) -> None:
    """Write text atomically (whole file or nothing)."""
    write_text_atomic(path, text)


def to_html(df: pd.DataFrame, caption: str | None = None, digits: int = SIG) -> str:
    """A table for a notebook (``_repr_html_``): numbers at ``digits`` significant figures as
    on the terminal, text escaped, an optional caption above."""
    import html  # noqa: PLC0415

    cells = _cells(df, lambda v: html.escape(format_sig(v, digits)))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in cells)
    cap = f"<p>{html.escape(caption)}</p>" if caption else ""
    return f"{cap}<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class SigFrame(pd.DataFrame):
    """A DataFrame that prints (``repr``, notebooks) its numbers at three significant figures;
    its values stay full precision (``.to_numpy()``, ``.to_csv()``)."""

    @property
    def _constructor(self):
        return pd.DataFrame

    def __repr__(self) -> str:
        return to_markdown(pd.DataFrame(self))

    def _repr_html_(self) -> str:
        return to_html(pd.DataFrame(self))
