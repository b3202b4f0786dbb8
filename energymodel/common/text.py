"""Prose on the terminal: the terminal's width and a line folded to it (standard library
only, so the light commands (``--help``, ``hw``) stay fast)."""

from __future__ import annotations

import shutil
import textwrap

__all__ = ["terminal_width", "wrap"]


def terminal_width(width: int | None = None) -> int:
    """``width``, else the terminal's (``COLUMNS`` honoured), else 100."""
    return int(width or shutil.get_terminal_size((100, 24)).columns)


def wrap(text: str, width: int | None = None, indent: str = "  ") -> str:
    """A line of prose folded at ``width`` (default: the terminal's), its leading spaces kept,
    continuation lines indented by ``indent`` more; words (paths, numbers) never broken."""
    first = text[: len(text) - len(text.lstrip(" "))]
    return textwrap.fill(text.strip(), width=max(terminal_width(width), 40),
                         initial_indent=first, subsequent_indent=first + indent,
                         break_on_hyphens=False, break_long_words=False)
