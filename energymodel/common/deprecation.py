"""Old names that moved, kept importable for one minor version with a ``DeprecationWarning``.

Two kinds of move are covered:

* a **module** that moved (``energymodel.hardware`` -> ``energymodel.pricing.hardware`` in 0.3):
  :class:`MovedModules` is a ``sys.meta_path`` finder that answers ``import <old path>`` with
  the new module object itself (so ``old is new``: a monkeypatch on one is seen by the other)
  and warns once per import;
* a **name** that moved to another module: :func:`moved` imports it from its new home and warns.

Every move is listed in ``CHANGELOG.md`` with the release that removes the old path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType
from typing import Any, Mapping

__all__ = ["MovedModules", "moved", "REMOVED_IN"]

#: the release that drops the old paths
REMOVED_IN = "0.4"


def _warn(old: str, new: str) -> None:
    warnings.warn(f"{old} moved to {new}; the old path is deprecated and goes in energymodel "
                  f"{REMOVED_IN}", DeprecationWarning, stacklevel=3)


def moved(old: str, new_module: str, name: str) -> Any:
    """Return ``new_module.name`` after warning that ``old`` moved there."""
    _warn(old, f"{new_module}.{name}")
    return getattr(importlib.import_module(new_module), name)


class _AliasLoader(importlib.abc.Loader):
    """Loads an old path as the already-imported new module (attributes left untouched)."""

    def __init__(self, old: str, new: str, warn: bool) -> None:
        self.old, self.new, self.warn = old, new, warn

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        if self.warn:
            _warn(self.old, self.new)
        # the import system only fills attributes that are missing, so the new module keeps
        # its own __name__, __spec__ and __file__
        return importlib.import_module(self.new)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the new module is already executed."""


class MovedModules(importlib.abc.MetaPathFinder):
    """``sys.meta_path`` finder for ``{old module path: new module path}``; ``warn=False`` for
    public short paths that stay (``energymodel.nir`` is ``em.nir``)."""

    def __init__(self, moves: Mapping[str, str], warn: bool = True) -> None:
        self.moves, self.warn = dict(moves), warn

    def find_spec(self, fullname: str, path: Any = None, target: Any = None
                  ) -> importlib.machinery.ModuleSpec | None:
        new = self.moves.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(fullname, new, self.warn))

    @classmethod
    def install(cls, moves: Mapping[str, str], warn: bool = True) -> "MovedModules":
        """Add one finder for ``moves`` to ``sys.meta_path`` (once per interpreter)."""
        for f in sys.meta_path:
            if isinstance(f, cls) and f.moves == dict(moves) and f.warn == warn:
                return f
        finder = cls(moves, warn)
        sys.meta_path.insert(0, finder)
        return finder
