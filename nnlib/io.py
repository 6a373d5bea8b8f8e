"""Chapter 14 (first used in chapter 07 by ``model.save``): nnlib's safe archive format.

One model (or GPT checkpoint) is ONE zip file holding::

    config.json      what to rebuild (the architecture; plain JSON)
    weights.npz      the arrays, NumPy's .npz layout, read with allow_pickle=False
    metadata.json    format name and version, nnlib version, creation date (UTC)
    <name>.npz       optional extra groups of arrays (e.g. optimizer.npz)
    <name>.json      optional extra JSON documents (e.g. optimizer.json)

Two promises:

* **Saving never corrupts an existing file.** The archive is written to a
  temporary file in the same folder, flushed to disk, and only then renamed
  over the target with :func:`os.replace` (atomic on POSIX and Windows). If
  anything fails half-way, the old file is untouched and the temporary file is
  removed.
* **Loading never runs code from the file.** No pickle (every array is parsed
  from its ``.npy`` header and must be a plain numeric array: bool, integer or
  float), JSON only, member sizes capped (no zip bombs), array headers checked
  against the bytes actually present. Anything wrong raises
  :class:`ModelFileError` (a ``ValueError``) naming the file and the problem;
  a missing file raises ``FileNotFoundError`` with the path.

Any file extension works (the seed book saves ``final_model.h5``); the content
is always this zip format, never HDF5.
"""
from __future__ import annotations

import ast
import datetime
import io
import json
import os
import re
import secrets
import zipfile
import zlib
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "ModelFileError",
    "Archive",
    "save_archive",
    "load_archive",
    "atomic_write",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_JSON_BYTES",
    "MAX_ARRAY_BYTES",
]

FORMAT_NAME = "nnlib-archive"
FORMAT_VERSION = 1
#: largest JSON member accepted (config, metadata, extra JSON)
MAX_JSON_BYTES = 16 * 1024 * 1024
#: largest total size of all arrays in one archive (uncompressed)
MAX_ARRAY_BYTES = 4 * 1024 ** 3
#: most arrays in one .npz member
MAX_ARRAYS = 100_000

_RESERVED = {"config", "weights", "metadata"}
_GROUP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
_KEY = re.compile(r"^[A-Za-z0-9_.\-/:\[\]]{1,256}$")
_NUMERIC_KINDS = "biuf"
#: what zipfile raises for a damaged archive or member: a bad CRC or directory (BadZipFile), a corrupt
#: deflate stream (zlib.error), a forged "version needed to extract" or compression method
#: (NotImplementedError), an encrypted member (RuntimeError), impossible offsets (ValueError, EOFError)
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError, ValueError)


class ModelFileError(ValueError):
    """Chapter 07: a model/checkpoint file is not a valid nnlib archive (says which file and why)."""


@dataclass
class Archive:
    """Chapter 07: what :func:`load_archive` returns.

    ``config`` (dict from config.json), ``arrays`` (name -> ndarray from
    weights.npz), ``metadata`` (dict), ``extra`` (group name -> {name ->
    ndarray}, from the extra .npz members) and ``extra_json`` (name -> JSON
    value, from the extra .json members).
    """

    config: dict
    arrays: dict
    metadata: dict
    extra: dict = field(default_factory=dict)
    extra_json: dict = field(default_factory=dict)


# ---------------------------------------------------------------------- writing
def _check_group_name(name, what: str) -> None:
    if not isinstance(name, str) or not _GROUP_NAME.match(name) or name in _RESERVED:
        raise ValueError(
            f"save_archive: {what} name {name!r} is not allowed; use letters, digits, '_' or '-' "
            f"(at most 64 characters, not one of {sorted(_RESERVED)})"
        )


def _check_arrays(arrays, where: str) -> dict:
    if not isinstance(arrays, dict):
        raise TypeError(f"save_archive: {where} must be a dict of name -> array, got {type(arrays).__name__}")
    clean = {}
    for key, value in arrays.items():
        if not isinstance(key, str) or not _KEY.match(key) or key.startswith("/") or ".." in key.split("/"):
            raise ValueError(
                f"save_archive: array name {key!r} in {where} is not allowed; use letters, digits and "
                "'_.-/:[]' (at most 256 characters, no '..' parts, not starting with '/')"
            )
        arr = value.data if hasattr(value, "data") and isinstance(getattr(value, "data"), np.ndarray) else value
        arr = np.asarray(arr)
        if arr.dtype.kind not in _NUMERIC_KINDS or arr.dtype.fields is not None:
            raise TypeError(
                f"save_archive: array {key!r} in {where} has dtype {arr.dtype}; only bool, integer and "
                "float arrays can be saved (no objects, strings or records)"
            )
        clean[key] = arr
    return clean


def _npz_bytes(arrays: dict) -> bytes:
    """The bytes of an .npz file (one uncompressed .npy member per array), like ``np.savez``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, arr in arrays.items():
            with zf.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(arr), allow_pickle=False)
    return buffer.getvalue()


def _json_bytes(value, what: str) -> bytes:
    try:
        text = json.dumps(value, indent=1, sort_keys=False, allow_nan=True, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"save_archive: {what} is not JSON-serializable: {exc}") from None
    return text.encode("utf-8")


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray) and obj.size <= 64:
        return obj.tolist()
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serializable")


def _version() -> str:
    try:
        from . import __version__
    except ImportError:  # pragma: no cover - during partial imports
        return "unknown"
    return __version__


def _write_members(path_like, members) -> None:
    """Write (name, bytes, compress) members into a zip at ``path_like`` (a file object)."""
    with zipfile.ZipFile(path_like, "w", allowZip64=True) as zf:
        for name, data, compress in members:
            zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED)


def save_archive(path, config: dict, arrays: dict, metadata: dict | None = None,
                 extra_arrays: dict | None = None, extra_json: dict | None = None) -> str:
    """Chapter 07: write one nnlib archive to ``path`` atomically; returns the path written.

    ``config`` (a JSON-serializable dict) becomes config.json; ``arrays``
    (name -> ndarray or Tensor) becomes weights.npz; ``metadata`` is merged
    into metadata.json next to the format name/version, nnlib version and UTC
    date; ``extra_arrays`` ({group: {name: array}}) become ``<group>.npz`` and
    ``extra_json`` ({name: value}) ``<name>.json``. Any extension is fine
    (``model.h5`` too); the file is always a zip in this format.
    """
    path = os.fspath(path)
    if not isinstance(config, dict):
        raise TypeError(f"save_archive: config must be a dict, got {type(config).__name__}")
    arrays = _check_arrays(arrays, "arrays")
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "nnlib_version": _version(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if metadata:
        if not isinstance(metadata, dict):
            raise TypeError(f"save_archive: metadata must be a dict, got {type(metadata).__name__}")
        meta.update({k: v for k, v in metadata.items() if k not in ("format", "format_version")})
    members = [
        ("metadata.json", _json_bytes(meta, "metadata"), True),
        ("config.json", _json_bytes(config, "config"), True),
        ("weights.npz", _npz_bytes(arrays), False),
    ]
    for group, group_arrays in (extra_arrays or {}).items():
        _check_group_name(group, "extra array group")
        members.append((f"{group}.npz", _npz_bytes(_check_arrays(group_arrays, f"extra_arrays[{group!r}]")),
                        False))
    for name, value in (extra_json or {}).items():
        _check_group_name(name, "extra JSON")
        members.append((f"{name}.json", _json_bytes(value, f"extra_json[{name!r}]"), True))

    return atomic_write(path, lambda f: _write_members(f, members), "save_archive")


def _create_temp(folder: str, base: str):
    """(fd, path) of a new, exclusively created file next to the target, with the usual permissions.

    ``os.open(..., 0o666)`` lets the operating system apply the umask, as for any new file
    (changing the process-wide umask to read it would race with other threads).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file in {folder!r}")  # pragma: no cover


def atomic_write(path, write, who: str = "atomic_write") -> str:
    """Chapter 14: write the file ``path`` all at once or not at all; returns the path written.

    ``write(f)`` fills a binary file object: a temporary file in the same folder,
    which is flushed to disk and then renamed over ``path`` with :func:`os.replace`
    (atomic on POSIX and Windows). If ``write`` fails or is interrupted, an existing
    file at ``path`` is left untouched and the temporary file is removed.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{who}: the folder {folder!r} (for {path!r}) does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{who}: {path!r} is a folder; give a file name")
    fd, tmp = _create_temp(folder, os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    return path


# ---------------------------------------------------------------------- reading
def _fail(path: str, message: str) -> ModelFileError:
    return ModelFileError(f"{path}: {message}")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, limit: int) -> bytes:
    if info.file_size > limit:
        raise _fail(path, f"member {info.filename!r} is {info.file_size:,} bytes uncompressed, more than the "
                          f"allowed {limit:,}; refusing to unpack it (a zip bomb or a wrong file?)")
    try:
        with zf.open(info) as member:
            data = member.read(limit + 1)
    except _DAMAGED as exc:
        raise _fail(path, f"member {info.filename!r} is damaged or truncated ({exc})") from None
    if len(data) > limit:  # pragma: no cover - zipfile already caps at file_size
        raise _fail(path, f"member {info.filename!r} is larger than the allowed {limit:,} bytes")
    return data


def _parse_json(data: bytes, member: str, path: str):
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # Recursion: absurdly deep nesting
        raise _fail(path, f"{member} is not valid JSON ({type(exc).__name__}: {exc})") from None


def _parse_npy_header(raw: bytes, name: str, where: str, path: str):
    """(dtype, shape, fortran_order, offset) of a .npy member, without NumPy's pickle paths."""
    if len(raw) < 10 or raw[:6] != b"\x93NUMPY":
        raise _fail(path, f"{where}: {name!r} is not a .npy array")
    major = raw[6]
    if major == 1:
        hlen, start = int.from_bytes(raw[8:10], "little"), 10
    elif major in (2, 3):
        if len(raw) < 12:
            raise _fail(path, f"{where}: {name!r} has a truncated header")
        hlen, start = int.from_bytes(raw[8:12], "little"), 12
    else:
        raise _fail(path, f"{where}: {name!r} uses unknown .npy format version {major}")
    if hlen > 65536 or len(raw) < start + hlen:
        raise _fail(path, f"{where}: {name!r} has a truncated or oversized header")
    text = raw[start:start + hlen].decode("latin1" if major < 3 else "utf-8", errors="replace")
    try:
        header = ast.literal_eval(text.strip())  # literals only: never executes code
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise _fail(path, f"{where}: {name!r} has an unreadable header") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise _fail(path, f"{where}: {name!r} has a malformed header")
    descr, fortran, shape = header["descr"], header["fortran_order"], header["shape"]
    if not isinstance(descr, str):
        raise _fail(path, f"{where}: {name!r} is a structured/record array; only plain numeric arrays are allowed")
    try:
        dtype = np.dtype(descr)
    except TypeError:
        raise _fail(path, f"{where}: {name!r} has an unknown dtype {descr!r}") from None
    if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject:
        raise _fail(path, f"{where}: {name!r} has dtype {dtype} ({descr!r}); only bool, integer and float arrays "
                          "are allowed (object arrays would need pickle, which nnlib never loads)")
    if not isinstance(fortran, bool) or not isinstance(shape, tuple) or not all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n for n in shape):
        raise _fail(path, f"{where}: {name!r} has an invalid shape {shape!r}")
    return dtype, shape, fortran, start + hlen


def _read_npz(data: bytes, member: str, path: str, budget: list) -> dict:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except _DAMAGED as exc:
        raise _fail(path, f"{member} is not a valid .npz file ({exc})") from None
    arrays = {}
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ARRAYS:
            raise _fail(path, f"{member} holds {len(infos):,} arrays, more than the allowed {MAX_ARRAYS:,}")
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise _fail(path, f"{member}: unexpected member {info.filename!r} (only .npy arrays are allowed)")
            name = info.filename[:-4]
            if name in arrays:
                raise _fail(path, f"{member}: array {name!r} appears twice")
            raw = _read_member(zf, info, f"{path} ({member})", budget[0])
            dtype, shape, fortran, offset = _parse_npy_header(raw, name, member, path)
            count = 1
            for n in shape:
                count *= n
            nbytes = count * dtype.itemsize
            if nbytes != len(raw) - offset:
                raise _fail(path, f"{member}: array {name!r} declares shape {shape} of {dtype} ({nbytes:,} bytes) "
                                  f"but holds {len(raw) - offset:,} bytes; the file is truncated or tampered with")
            budget[0] -= nbytes
            arr = np.frombuffer(raw, dtype=dtype, count=count, offset=offset)
            arr = arr.reshape(shape, order="F" if fortran else "C")
            arrays[name] = np.array(arr, dtype=dtype.newbyteorder("=") if dtype.byteorder not in "=|" else dtype,
                                    order="C", copy=True)
    return arrays


def load_archive(path, max_bytes: int | None = None) -> Archive:
    """Chapter 07: read and validate an archive written by :func:`save_archive`.

    Raises ``FileNotFoundError`` (with the path) for a missing file and
    :class:`ModelFileError` for anything else that is wrong: not a zip, not an
    nnlib archive, truncated, missing members, bad JSON, non-numeric or
    inconsistent arrays, members larger than ``max_bytes`` in total
    (default :data:`MAX_ARRAY_BYTES`). Never unpickles and never evaluates
    anything from the file.
    """
    path = os.fspath(path)
    limit = MAX_ARRAY_BYTES if max_bytes is None else int(max_bytes)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such model file: {path!r} (absolute path: {os.path.abspath(path)})")
    if os.path.isdir(path):
        raise ModelFileError(f"{path}: is a folder, not an nnlib model file")
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        with open(path, "rb") as f:
            head = f.read(8)
        if head.startswith(b"PK"):
            raise _fail(path, "the zip archive is truncated or damaged (its directory at the end is missing); "
                              "was the save interrupted or the download incomplete?") from None
        if head.startswith(b"\x89HDF"):
            raise _fail(path, "this is an HDF5 file (e.g. saved by Keras/TensorFlow), not an nnlib model; nnlib "
                              "writes and reads its own zip format only") from None
        raise _fail(path, "not an nnlib model file (not a zip archive; nnlib's save() writes zip archives)") from None
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc})") from None
    except _DAMAGED as exc:  # e.g. a forged "version needed to extract" in the zip directory
        raise _fail(path, f"the zip archive is damaged or was tampered with ({exc})") from None
    with zf:
        infos = {}
        for info in zf.infolist():
            if info.filename in infos:
                raise _fail(path, f"member {info.filename!r} appears twice")
            infos[info.filename] = info
        if "metadata.json" not in infos:
            raise _fail(path, "not an nnlib archive: it has no metadata.json "
                              f"(members: {sorted(infos)[:10]})")
        metadata = _parse_json(_read_member(zf, infos["metadata.json"], path, MAX_JSON_BYTES), "metadata.json", path)
        if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
            raise _fail(path, f"not an nnlib archive: metadata.json does not say format={FORMAT_NAME!r}")
        version = metadata.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise _fail(path, f"metadata.json has an invalid format_version {version!r}")
        if version > FORMAT_VERSION:
            raise _fail(path, f"written in archive format {version}, newer than this nnlib understands "
                              f"({FORMAT_VERSION}); upgrade nnlib")
        for required in ("config.json", "weights.npz"):
            if required not in infos:
                raise _fail(path, f"the archive has no {required}; it is incomplete or tampered with")
        config = _parse_json(_read_member(zf, infos["config.json"], path, MAX_JSON_BYTES), "config.json", path)
        if not isinstance(config, dict):
            raise _fail(path, f"config.json must hold a JSON object, got {type(config).__name__}")
        budget = [limit]
        arrays = None
        extra, extra_json = {}, {}
        for name, info in infos.items():
            if name in ("metadata.json", "config.json"):
                continue
            stem, _, ext = name.rpartition(".")
            if ext == "npz" and (stem == "weights" or _GROUP_NAME.match(stem)):
                if info.file_size > budget[0]:
                    raise _fail(path, f"member {name!r} is {info.file_size:,} bytes uncompressed, more than the "
                                      f"allowed {budget[0]:,} (raise max_bytes if this is expected)")
                data = _read_member(zf, info, path, budget[0])
                group = _read_npz(data, name, path, budget)
                if stem == "weights":
                    arrays = group
                else:
                    extra[stem] = group
            elif ext == "json" and _GROUP_NAME.match(stem) and stem not in _RESERVED:
                extra_json[stem] = _parse_json(_read_member(zf, info, path, MAX_JSON_BYTES), name, path)
            else:
                raise _fail(path, f"unexpected member {name!r} in the archive (tampered with?)")
    return Archive(config=config, arrays=arrays, metadata=metadata, extra=extra, extra_json=extra_json)
