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

from ._io import write_text_atomic

__all__ = [
    "format_number",
    "to_markdown",
    "to_latex",
    "to_csv_text",
    "to_json_text",
    "write",
]


def format_number(x: Any, digits: int = 4) -> str:
    """Numbers with ``digits`` significant digits (integers as they are); NaN as ``-``."""
    if x is None:
        return "-"
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        if math.isnan(x):
            return "-"
        if x == int(x) and abs(x) < 1e15:
            return str(int(x))
        return f"{x:.{digits}g}"
    return str(x)


def _cells(df: pd.DataFrame, fmt: Callable[[Any], str]) -> list[list[str]]:
    return [[fmt(v) for v in row] for row in df.itertuples(index=False, name=None)]


def to_markdown(df: pd.DataFrame, digits: int = 4, align_numbers: bool = True) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned)."""
    cols = [str(c) for c in df.columns]
    rows = _cells(df, lambda v: format_number(v, digits).replace("|", "\\|"))
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
}


def latex_escape(s: str) -> str:
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in str(s))


def to_latex(
    df: pd.DataFrame,
    caption: str | None = None,
    label: str | None = None,
    digits: int = 4,
    bold_last_row: bool = False,
) -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    spec = "".join("r" if n else "l" for n in numeric)
    head = " & ".join(latex_escape(c) for c in df.columns) + r" \\"
    body = []
    rows = _cells(df, lambda v: latex_escape(format_number(v, digits)))
    for i, r in enumerate(rows):
        if bold_last_row and i == len(rows) - 1:
            body.append(r"\midrule")
            r = [rf"\textbf{{{c}}}" for c in r]
        body.append(" & ".join(r) + r" \\")
    out = [r"\begin{table}[t]", r"\centering"]
    if caption:
        out.append(rf"\caption{{{latex_escape(caption)}}}")
    if label:
        out.append(rf"\label{{{label}}}")
    out += [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", head, r"\midrule", *body,
            r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(out) + "\n"


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
        return None if math.isnan(float(x)) else float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, pd.DataFrame):
        return [_jsonable(r) for r in x.to_dict(orient="records")]
    return x


def to_json_text(obj: Any, indent: int = 2) -> str:
    """JSON of DataFrames (as record lists), dicts, lists and numbers (NaN -> null)."""
    return json.dumps(_jsonable(obj), indent=indent, allow_nan=False) + "\n"


def write(path: str | os.PathLike, text: str) -> None:
    """Write text atomically (whole file or nothing)."""
    write_text_atomic(path, text)
