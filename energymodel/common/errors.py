"""One exception type for problems with what the user asked for.

The command line catches :class:`UserError` (and :class:`~energymodel.pricing.hardware.HardwareError`)
and prints one line, ``error: ...``, with exit code 2; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(ValueError):
    """A bad request: unknown model or hardware, missing checkpoint, wrong input shape, an
    output file type we cannot write. The message names the problem in one line."""
