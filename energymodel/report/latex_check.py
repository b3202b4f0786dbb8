"""Compile LaTeX tables in a plain ``article`` (booktabs, graphicx, amsmath only) and fail on
any error or overfull box: ``python -m energymodel.report.latex_check reports/*.tex``
(``make latex-check``). Needs ``pdflatex`` (Debian: texlive-latex-base and
texlive-latex-recommended, for booktabs)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PREAMBLE = r"""\documentclass{article}
\usepackage{booktabs}
\usepackage{graphicx}
\usepackage{amsmath}
\begin{document}
"""


def check(path: str | Path) -> list[str]:
    """Problems compiling ``path`` (empty when it compiles cleanly with no overfull box)."""
    path = Path(path)
    with tempfile.TemporaryDirectory() as d:
        doc = Path(d) / "doc.tex"
        doc.write_text(PREAMBLE + path.read_text(encoding="utf-8") + "\n\\end{document}\n",
                       encoding="utf-8")
        r = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
                           cwd=d, capture_output=True, text=True, timeout=120)
        log = (Path(d) / "doc.log").read_text(errors="replace") if (Path(d) / "doc.log").exists() else r.stdout
    problems = [ln for ln in log.splitlines()
                if ln.startswith("!") or re.match(r"(Overfull|Underfull) \\[hv]box", ln)
                and ln.startswith("Overfull")]
    if r.returncode and not problems:
        problems.append(f"pdflatex exited with {r.returncode}")
    return problems


def main(argv: list[str]) -> int:
    if shutil.which("pdflatex") is None:
        print("error: pdflatex not found (apt-get install texlive-latex-base "
              "texlive-latex-recommended)", file=sys.stderr)
        return 2
    bad = 0
    for p in argv:
        problems = check(p)
        print(f"{p}: {'ok' if not problems else '; '.join(problems)}")
        bad += bool(problems)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
