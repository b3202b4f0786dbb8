"""Atomic file output: a file is written whole or not at all, and a set of files (a report
folder) is replaced whole or not at all.

Files: written to a temporary file in the same folder, flushed, then renamed over the target.
A new file gets the mode the umask gives (``0o666 & ~umask``, like ``open(path, "w")``); an
overwritten file keeps its mode. An ``--out`` that is a symbolic link is followed: the file it
points to is replaced and the link stays. A file with several hard links is replaced by a new
file: the other names keep the old content (a rename cannot write through a hard link).

Folders (:func:`atomic_directory`): the set is built in a hidden sibling folder and swapped in
with one atomic exchange (``renameat2(RENAME_EXCHANGE)`` on Linux; elsewhere two renames),
so a reader, a crash or ``kill -9`` sees either the old set or the new one, never a mix.
Temporaries left by killed runs are removed by the next run.

A write that fails (full disk, read-only folder, file size limit) raises
:class:`OutputError`, a :class:`~energymodel.common.errors.UserError`: the CLI prints one line.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import UserError

__all__ = ["write_text_atomic", "write_bytes_atomic", "OutputError", "check_writable",
           "check_output_dir", "atomic_directory"]


class OutputError(UserError):
    """An output file or folder cannot be written (the message names it and why)."""


def _why(e: OSError) -> str:
    return e.strerror or str(e)


def _umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


def _real_target(path: str | os.PathLike) -> Path:
    """The file to replace: a symlink is followed (the link stays a link)."""
    target = Path(path)
    if target.is_symlink():
        return Path(os.path.realpath(target))
    return target


def check_writable(path: str | os.PathLike) -> Path:
    """Refuse, before any work, an output path that cannot be written: a missing folder, a
    folder we cannot create files in (read-only, no permission), a target that is a folder or
    not a regular file. Returns the file that will be replaced."""
    target = _real_target(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise OutputError(f"cannot write {str(path)!r}: it is a directory; give a file name")
    if os.path.lexists(target) and not target.is_file():
        raise OutputError(f"cannot write {str(path)!r}: it exists and is not a regular file")
    if not folder.is_dir():
        raise OutputError(f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist")
    _probe(folder, str(path))
    return target


def _probe(folder: Path, shown: str) -> None:
    """Create and remove a temporary file in ``folder`` (the only honest writability test:
    ``os.access`` is wrong for root and read-only mounts)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".energymodel-probe.", dir=folder)
    except OSError as e:
        raise OutputError(f"cannot write {shown!r}: {_why(e)}") from None
    os.close(fd)
    os.unlink(tmp)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and an atomic
    rename, so a reader never sees a half-written file and a failure leaves no file behind.
    Raises :class:`OutputError` naming the file when the write fails."""
    shown = str(path)
    target = _real_target(path)
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"cannot write {shown!r}: folder {str(folder)!r} does not exist")
    if target.is_dir():
        raise OutputError(f"cannot write {shown!r}: it is a directory")
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode) if target.is_file() else 0o666 & ~_umask()
    except OSError:
        mode = 0o666 & ~_umask()
    _clean_stale_files(folder, target.name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp",
                                   dir=folder)
    except OSError as e:
        raise OutputError(f"cannot write {shown!r}: {_why(e)}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise OutputError(f"cannot write {shown!r}: {_why(e)}") from None
        raise
    return Path(path)


def _is_temporary(name: str) -> bool:
    """Names of our temporaries: ``.<file>.<pid>.<random>.tmp`` and older ``.<file>.*.tmp``."""
    return name.startswith(".") and (name.endswith(".tmp") or _TMP_TAG in name
                                     or name.startswith(".energymodel-probe."))


def _clean_stale_files(folder: Path, name: str) -> None:
    """Remove ``.<name>.<pid>.*.tmp`` files of processes that are gone (a killed writer)."""
    prefix = f".{name}."
    try:
        entries = [e for e in os.listdir(folder) if e.startswith(prefix) and e.endswith(".tmp")]
    except OSError:
        return
    for e in entries:
        pid_txt = e[len(prefix):].split(".", 1)[0]
        if pid_txt.isdigit() and not _alive(int(pid_txt)) and int(pid_txt) != os.getpid():
            with contextlib.suppress(OSError):
                os.unlink(folder / e)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Text variant of :func:`write_bytes_atomic` (UTF-8)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


# --------------------------------------------------------------------------- folders
_TMP_TAG = ".emtmp-"


def check_output_dir(path: str | os.PathLike) -> Path:
    """Refuse, before any work, an output folder that cannot be made: it names a file, or its
    parent is missing or not writable. Returns the folder (a symlink resolved)."""
    out = Path(path)
    if out.is_symlink():
        out = Path(os.path.realpath(out))
    if os.path.lexists(out) and not out.is_dir():
        raise OutputError(f"cannot write to {str(path)!r}: it exists and is not a directory")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write to {str(path)!r}: folder {str(parent)!r} does not exist")
    _probe(parent, str(path))
    return out


def _clean_stale(out: Path) -> None:
    """Remove temporaries of earlier runs on ``out`` whose process is gone."""
    parent = out.parent if str(out.parent) else Path(".")
    prefix = f".{out.name}{_TMP_TAG}"
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for e in entries:
        if not e.name.startswith(prefix):
            continue
        pid_txt = e.name[len(prefix):].split("-", 1)[0]
        if pid_txt.isdigit() and _alive(int(pid_txt)):
            continue
        with contextlib.suppress(OSError):
            shutil.rmtree(e) if e.is_dir() and not e.is_symlink() else e.unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own earlier, finished (or failed) use
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2(RENAME_EXCHANGE)``); False if unsupported."""
    try:
        import ctypes  # noqa: PLC0415

        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        return False
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP if hasattr(errno, "ENOTSUP") else -1):
        return False
    raise OSError(err, os.strerror(err), str(b))


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, keep_others: bool = True) -> Iterator[Path]:
    """Build a folder's new content in a hidden sibling and swap it in whole on success.

    ``with atomic_directory("reports") as tmp: write files under tmp``. On an exception the
    temporary folder is removed and ``path`` is untouched. ``keep_others``: entries of the old
    folder that the new set does not contain (a user's own notes) are carried over, so nothing
    is lost. The new folder keeps the old one's mode (a new one gets the umask's)."""
    out = check_output_dir(path)
    _clean_stale(out)
    parent = out.parent if str(out.parent) else Path(".")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}{_TMP_TAG}{os.getpid()}-", dir=parent))
    except OSError as e:
        raise OutputError(f"cannot write to {str(path)!r}: {_why(e)}") from None
    try:
        yield tmp
        try:
            old_mode = stat.S_IMODE(os.stat(out).st_mode) if out.is_dir() else None
            os.chmod(tmp, old_mode if old_mode is not None else 0o777 & ~_umask())
            if out.is_dir():
                if keep_others:
                    for e in out.iterdir():
                        dst = tmp / e.name
                        if not os.path.lexists(dst) and not _is_temporary(e.name):
                            _copy(e, dst)
                if not _exchange(tmp, out):
                    old = Path(tempfile.mkdtemp(prefix=f".{out.name}{_TMP_TAG}{os.getpid()}-",
                                                dir=parent))
                    os.rmdir(old)
                    os.rename(out, old)
                    os.rename(tmp, out)
                    tmp = old
            else:
                os.rename(tmp, out)
                return
        except OSError as e:
            raise OutputError(f"cannot write to {str(path)!r}: {_why(e)}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _copy(src: Path, dst: Path) -> None:
    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
    elif src.is_dir():
        shutil.copytree(src, dst, symlinks=True)
    else:
        try:
            os.link(src, dst)  # same file system: no copy needed, and the old folder goes away
        except OSError:
            shutil.copy2(src, dst)


# --------------------------------------------------------------------------- guarded reads
#: the most a user's text file (rates, model kwargs) may hold
MAX_TEXT_BYTES = 1 << 20


def _kind_of(mode: int) -> str:

    for test, what in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return "not a regular file"


def read_regular_bytes(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; ``OSError`` with a one-line
    reason otherwise. The file is opened non-blocking and checked on the open descriptor (a
    FIFO cannot hang the reader, ``/dev/zero`` or a huge file cannot eat memory, and the file
    cannot be swapped between the check and the read)."""

    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(os.fspath(path), flags)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(f"{_kind_of(st.st_mode)}, not a regular file")
        if st.st_size > limit:
            raise OSError(f"too large ({st.st_size} bytes; at most {limit} bytes)")
        chunks, got = [], 0
        while got <= limit:
            b = os.read(fd, limit + 1 - got)
            if not b:
                break
            chunks.append(b)
            got += len(b)
        if got > limit:
            raise OSError(f"too large (more than {limit} bytes)")
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_user_text(path: str | os.PathLike, what: str, limit: int = MAX_TEXT_BYTES) -> str:
    """A user's UTF-8 text file (a BOM is dropped), read by :func:`read_regular_bytes`; any
    problem is one :class:`UserError` naming ``what`` and the file."""
    try:
        data = read_regular_bytes(path, limit)
    except IsADirectoryError:
        raise UserError(f"{what} {str(path)!r} cannot be read: a directory, not a regular "
                        "file") from None
    except OSError as e:
        raise UserError(f"{what} {str(path)!r} cannot be read: {e.strerror or e}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise UserError(f"{what} {str(path)!r} is not UTF-8 text (byte {e.start}: "
                        f"{data[e.start:e.start + 1]!r}); save it as UTF-8") from None
