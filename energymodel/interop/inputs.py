"""The user's own data for ``energymodel profile --data``: a tensor file, an image folder or a
``module:callable`` becomes a sequence of batches the profiler runs over.

>>> from energymodel.inputs import open_data
>>> src = open_data("val_subset.pt", batch_size=32, batches=10)
>>> src.description, src.samples, src.sample_shape
>>> for x in src.batches: ...          # tensors [B, *sample_shape] (or [T, B, ...] time-major)

Sources (:func:`open_data`):

- a tensor file: ``.pt`` / ``.pth`` read with ``torch.load(weights_only=True)`` holding a
  tensor, an ``(inputs, labels)`` pair or a dict with an ``inputs`` / ``x`` / ``data`` entry;
  ``.npy``; ``.npz`` (the array named ``inputs``, ``x`` or ``data``, else the first). Samples
  lie along the first dimension, or along the second with ``time_major`` (``[T, N, ...]``
  event data). Values are cast to float32, never rescaled. Labels are not used.
- an image folder: class subfolders (or the folder itself) of PNG / JPEG files, read with
  Pillow in sorted order, resized (bilinear) to the model's ``C, H, W`` (``C`` 1: grey, 3:
  RGB), scaled to [0, 1] and optionally normalised, ``(x - mean) / std``.
- ``package.module:callable``: called (with ``batch_size=`` when it takes that argument) and
  returning an iterable of batches (a ``DataLoader``, a list, a generator) or one tensor (then
  batched like a tensor file). A batch is a tensor, an ``(inputs, ...)`` tuple or a dict of
  keyword arguments.

At most ``batches`` batches run. Every problem is a :class:`~energymodel.common.errors.UserError`
naming the file, folder or callable. Only torch, numpy and Pillow are used here; the profiler
itself is not imported (see ``energymodel.workflow.profile_data``).
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch

from ..common.errors import UserError

__all__ = ["DataSource", "open_data", "parse_normalize", "IMAGE_SUFFIXES", "TENSOR_SUFFIXES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
TENSOR_SUFFIXES = (".pt", ".pth", ".npy", ".npz")
_CALLABLE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_KEYS = ("inputs", "input", "x", "data", "images", "samples")


@dataclass
class DataSource:
    """Batches of the user's data and what they are.

    ``batches``: an iterable of batches (iterate once). ``description``: the source in words
    (recorded in every report as ``inputs``). ``sample_shape``: one sample's shape, batch (and
    T) excluded, when known before running. ``samples`` / ``total``: samples and batches that
    will run, when known. ``batch_dim``: where samples lie in a batch's input tensor (0; 1 for
    time-major ``[T, B, ...]``). ``timesteps``: T of time-major data."""

    batches: Iterable[Any]
    description: str
    kind: str  # "tensor" | "folder" | "callable"
    sample_shape: tuple[int, ...] | None
    samples: int | None
    total: int | None
    batch_dim: int = 0
    timesteps: int | None = None


def _one_line(e: BaseException, limit: int = 300) -> str:
    s = " ".join(str(e).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _shape_txt(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def parse_normalize(text: str | None, channels: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``"0.5,0.25"`` (one mean and std for every channel) or ``"m1,m2,m3,s1,s2,s3"`` (per
    channel: C means then C stds) -> (mean, std) tensors shaped ``[C, 1, 1]``."""
    if text is None or not str(text).strip():
        return None
    try:
        vals = [float(v) for v in str(text).replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise UserError(f"bad --normalize {text!r}: expected numbers 'mean,std' or C means then "
                        "C stds") from None
    if len(vals) == 2:
        mean, std = [vals[0]] * channels, [vals[1]] * channels
    elif len(vals) == 2 * channels:
        mean, std = vals[:channels], vals[channels:]
    else:
        raise UserError(f"bad --normalize {text!r}: give 'mean,std' or {channels} means then "
                        f"{channels} stds ({2 * channels} numbers), got {len(vals)}")
    if any(s <= 0 for s in std):
        raise UserError(f"bad --normalize {text!r}: every std must be > 0")
    return (torch.tensor(mean).reshape(-1, 1, 1), torch.tensor(std).reshape(-1, 1, 1))


# ------------------------------------------------------------------------------ tensor files
def _pick(obj: Any, path: str) -> torch.Tensor:
    """The inputs inside what a tensor file holds: a tensor, (inputs, labels), a dict."""
    if isinstance(obj, np.ndarray):
        obj = torch.from_numpy(np.ascontiguousarray(obj))
    if isinstance(obj, torch.Tensor):
        return obj
    if isinstance(obj, (tuple, list)) and obj and isinstance(obj[0], (torch.Tensor, np.ndarray)):
        return _pick(obj[0], path)
    if isinstance(obj, dict):
        for k in _KEYS:
            if k in obj:
                return _pick(obj[k], path)
        raise UserError(f"data file {path!r} holds a dict without an inputs entry (keys: "
                        f"{', '.join(map(str, list(obj)[:8]))}; expected one of {', '.join(_KEYS)})")
    raise UserError(f"data file {path!r} holds a {type(obj).__name__}; expected a tensor or "
                    "(inputs, labels)")


#: numpy dtype kinds a model input may have: bool, signed / unsigned integer, float
_NUMERIC_KINDS = "biuf"


def _npy_header(f: Any, what: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype a ``.npy`` stream declares (its header only: nothing is loaded)."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(f)
        else:
            shape, _, dtype = fmt.read_array_header_2_0(f)
    except Exception as e:  # noqa: BLE001 - a broken header is the user's file
        raise UserError(f"{what}: not a valid .npy array: {_one_line(e)}") from None
    return tuple(int(s) for s in shape), dtype


def _check_declared(shape: tuple[int, ...], dtype: np.dtype, what: str, budget: int | None) -> None:
    """Refuse a non-numeric array, or one larger than ``budget`` bytes, from its header."""
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None:
        raise UserError(f"{what}: arrays of dtype {dtype} cannot be model inputs (numbers "
                        "expected: bool, integer or float)")
    n = 1
    for s in shape:
        n *= max(int(s), 0)
    need = n * max(dtype.itemsize, 4)  # read as float32
    if budget is not None and need > budget:
        raise UserError(f"{what}: declares {_shape_txt(shape)} {dtype} ({need / 2**30:.3g} GiB as "
                        f"float32), above the memory budget of {budget / 2**30:.3g} GiB "
                        "(--memory-budget); checked before loading")


def _precheck_numpy(path: Path, budget: int | None) -> None:
    """``.npy``: its header; ``.npz``: every member's header and uncompressed size, before any
    array is read or decompressed (a 2 MB archive can inflate to gigabytes)."""
    import zipfile  # noqa: PLC0415

    what = f"data file {str(path)!r}"
    if path.suffix.lower() == ".npy":
        with open(path, "rb") as f:
            shape, dtype = _npy_header(f, what)
        _check_declared(shape, dtype, what, budget)
        return
    try:
        z = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise UserError(f"{what} cannot be read: not a valid .npz archive ({_one_line(e)})") from None
    with z:
        for info in z.infolist():
            member = f"{what}, array {info.filename!r}"
            if budget is not None and info.file_size > budget:
                raise UserError(f"{member}: {info.file_size / 2**30:.3g} GiB uncompressed, above "
                                f"the memory budget of {budget / 2**30:.3g} GiB (--memory-budget); "
                                "checked before decompressing")
            if info.filename.endswith(".npy"):
                with z.open(info) as f:
                    shape, dtype = _npy_header(f, member)
                _check_declared(shape, dtype, member, budget)


def _read_tensor_file(path: Path, budget: int | None = None) -> torch.Tensor:
    suffix = path.suffix.lower()
    if suffix in (".npy", ".npz"):
        _precheck_numpy(path, budget)
    elif budget is not None and path.stat().st_size > budget:
        raise UserError(f"data file {str(path)!r}: {path.stat().st_size / 2**30:.3g} GiB, above the "
                        f"memory budget of {budget / 2**30:.3g} GiB (--memory-budget)")
    try:
        if suffix in (".pt", ".pth"):
            obj = torch.load(str(path), weights_only=True, map_location="cpu")
        elif suffix == ".npy":
            obj = np.load(str(path), allow_pickle=False)
        else:
            with np.load(str(path), allow_pickle=False) as z:
                names = list(z.files)
                if not names:
                    raise UserError(f"data file {str(path)!r} holds no arrays")
                key = next((k for k in _KEYS if k in names), names[0])
                obj = z[key]
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - anything unreadable is the user's file
        raise UserError(f"data file {str(path)!r} cannot be read: {_one_line(e)}") from None
    x = _pick(obj, str(path))
    if x.layout != torch.strided:
        raise UserError(f"data file {str(path)!r}: a {str(x.layout).replace('torch.', '')} tensor; "
                        "save dense inputs (x.to_dense())")
    if x.is_complex():
        raise UserError(f"data file {str(path)!r}: complex inputs ({x.dtype}) are not supported")
    return x.to(torch.float32)


def _tensor_batches(x: torch.Tensor, batch_size: int, n: int, dim: int) -> Iterator[torch.Tensor]:
    for i in range(n):
        yield x.narrow(dim, i * batch_size, min(batch_size, x.shape[dim] - i * batch_size))


def _from_tensor(x: torch.Tensor, what: str, kind: str, batch_size: int, batches: int | None,
                 time_major: bool) -> DataSource:
    dim = 1 if time_major else 0
    if x.dim() < dim + 2:
        need = "[T, N, ...]" if time_major else "[N, ...]"
        raise UserError(f"data {what}: inputs of shape {_shape_txt(x.shape)} have no sample "
                        f"dimension; expected {need}")
    n_samples = int(x.shape[dim])
    if n_samples == 0:
        raise UserError(f"data {what} holds no samples (shape {_shape_txt(x.shape)})")
    n = math.ceil(n_samples / batch_size)
    if batches is not None:
        n = min(n, int(batches))
    used = min(n_samples, n * batch_size)
    T = int(x.shape[0]) if time_major else None
    desc = f"{what} (tensor {_shape_txt(x.shape)}{', time-major' if time_major else ''})"
    return DataSource(_tensor_batches(x, batch_size, n, dim), desc, kind,
                      tuple(int(s) for s in x.shape[dim + 1:]), used, n, dim, T)


# ------------------------------------------------------------------------------ image folders
def _image_files(root: Path) -> list[Path]:
    files = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        files += [p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files)


def _read_image(path: Path, shape: Sequence[int],
                norm: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    C, H, W = (int(s) for s in shape)
    try:
        with Image.open(path) as im:
            im = im.convert("RGB" if C == 3 else "L").resize((W, H), Image.BILINEAR)
            a = np.asarray(im, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise UserError(f"image {str(path)!r} cannot be read: {_one_line(e)}") from None
    x = torch.from_numpy(a.reshape(H, W, -1).transpose(2, 0, 1).copy())
    return (x - norm[0]) / norm[1] if norm is not None else x


def _folder_batches(files: list[Path], shape: Sequence[int], batch_size: int, n: int,
                    norm: tuple[torch.Tensor, torch.Tensor] | None) -> Iterator[torch.Tensor]:
    for i in range(n):
        chunk = files[i * batch_size:(i + 1) * batch_size]
        yield torch.stack([_read_image(p, shape, norm) for p in chunk])


def _from_folder(root: Path, shape: Sequence[int] | None, batch_size: int, batches: int | None,
                 normalize: str | None, time_major: bool) -> DataSource:
    if time_major:
        raise UserError(f"--time-major needs event data (a tensor file or a callable), not the "
                        f"image folder {str(root)!r}")
    if shape is None:
        raise UserError(f"image folder {str(root)!r}: give --input-shape C,H,W (the size images "
                        "are resized to)")
    if len(shape) != 3 or int(shape[0]) not in (1, 3):
        raise UserError(f"image folder {str(root)!r}: the input shape must be C,H,W with C 1 "
                        f"(grey) or 3 (RGB), got {_shape_txt(shape)}")
    files = _image_files(root)
    if not files:
        raise UserError(f"image folder {str(root)!r} holds no PNG or JPEG images (expected "
                        "class subfolders of .png / .jpg files)")
    norm = parse_normalize(normalize, int(shape[0]))
    n = math.ceil(len(files) / batch_size)
    if batches is not None:
        n = min(n, int(batches))
    files = files[: n * batch_size]
    classes = len({p.parent for p in files})
    desc = (f"{root} ({len(files)} images in {classes} folder(s), resized to "
            f"{_shape_txt(shape)}, scaled to [0, 1]"
            + (f", normalised {normalize}" if normalize else "") + ")")
    return DataSource(_folder_batches(files, shape, batch_size, n, norm), desc, "folder",
                      tuple(int(s) for s in shape), len(files), n)


# ------------------------------------------------------------------------------ callables
def _resolve_callable(spec: str) -> Any:
    mod_name, _, attr = spec.partition(":")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # a user's module in the current folder
    try:
        obj: Any = importlib.import_module(mod_name)
    except ImportError as e:
        raise UserError(f"--data {spec!r}: cannot import module {mod_name!r} "
                        f"({_one_line(e)})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UserError(f"--data {spec!r}: module {mod_name!r} has no {attr!r}")
        obj = getattr(obj, part)
    return obj


def _from_callable(spec: str, batch_size: int, batches: int | None,
                   time_major: bool) -> DataSource:
    fn = _resolve_callable(spec)
    if not callable(fn):
        raise UserError(f"--data {spec!r} is not callable")
    kwargs: dict[str, Any] = {}
    try:
        if "batch_size" in inspect.signature(fn).parameters:
            kwargs["batch_size"] = int(batch_size)
    except (TypeError, ValueError):  # builtins without a signature
        pass
    try:
        obj = fn(**kwargs)
    except Exception as e:  # noqa: BLE001 - the user's function failed
        raise UserError(f"--data {spec!r}: calling it failed: {type(e).__name__}: "
                        f"{_one_line(e)}") from None
    if isinstance(obj, (torch.Tensor, np.ndarray)):
        x = obj if isinstance(obj, torch.Tensor) else torch.from_numpy(np.asarray(obj))
        return _from_tensor(x.to(torch.float32), f"{spec}()", "callable", batch_size, batches,
                            time_major)
    if not isinstance(obj, Iterable):
        raise UserError(f"--data {spec!r} returned a {type(obj).__name__}; expected an iterable "
                        "of batches (a DataLoader, a list) or a tensor")
    total = None
    try:
        total = len(obj)  # type: ignore[arg-type]
    except TypeError:
        pass
    if batches is not None:
        total = int(batches) if total is None else min(total, int(batches))
    it = itertools.islice(obj, batches) if batches is not None else obj
    desc = f"{spec}() ({type(obj).__name__}{', time-major' if time_major else ''})"
    return DataSource(it, desc, "callable", None, None, total, 1 if time_major else 0)


# ------------------------------------------------------------------------------ entry point
def open_data(
    spec: str | os.PathLike,
    *,
    batch_size: int = 1,
    batches: int | None = None,
    input_shape: Sequence[int] | None = None,
    normalize: str | None = None,
    time_major: bool = False,
    memory_budget: int | None = None,
) -> DataSource:
    """Open the data ``spec`` names (a tensor file, an image folder, or ``module:callable``).

    ``batch_size``: samples per batch (tensor files and folders; passed to a callable that takes
    ``batch_size``). ``batches``: at most this many batches (``None``: all the data).
    ``input_shape``: one sample's ``C, H, W``, the size folder images are resized to.
    ``normalize``: ``"mean,std"`` or C means then C stds (folders). ``time_major``: the data's
    first dimension is T (``[T, N, ...]``), batches are ``[T, B, ...]``. ``memory_budget``: bytes
    a tensor file may take, checked on its declared size before it is loaded or decompressed."""
    if int(batch_size) < 1 or (batches is not None and int(batches) < 1):
        raise UserError(f"batch size and number of batches must be >= 1 (got {batch_size}, "
                        f"{batches})")
    text = str(spec)
    p = Path(text)
    if p.is_dir():
        return _from_folder(p, input_shape, int(batch_size), batches, normalize, time_major)
    if p.is_file():
        if normalize:
            raise UserError(f"--normalize applies to image folders; tensor file {text!r} is "
                            "used as it is")
        if p.suffix.lower() not in TENSOR_SUFFIXES:
            raise UserError(f"data file {text!r}: unknown type {p.suffix or '(none)'!r}; use "
                            f"{', '.join(TENSOR_SUFFIXES)}, an image folder or module:callable")
        x = _read_tensor_file(p, memory_budget)
        return _from_tensor(x, text, "tensor", int(batch_size), batches, time_major)
    if _CALLABLE.match(text):
        return _from_callable(text, int(batch_size), batches, time_major)
    raise UserError(f"--data {text!r}: no such file or folder (and not a module:callable)")


def first_tensor(batch: Any) -> torch.Tensor | None:
    """The input tensor of a batch: the batch, its first element, or a dict's first tensor."""
    if isinstance(batch, torch.Tensor):
        return batch
    if isinstance(batch, (tuple, list)) and batch:
        return first_tensor(batch[0])
    if isinstance(batch, dict):
        return next((v for v in batch.values() if isinstance(v, torch.Tensor)), None)
    return None
