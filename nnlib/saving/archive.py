"""Chapter 14 (first used in chapter 07 by ``model.save``): the archive, nnlib's one model file format.

Every nnlib model (a :class:`~nnlib.models.Sequential`, a :class:`~nnlib.gpt.GPT`, any
class registered with :func:`nnlib.models.register_model`) is saved by
``nnlib.models.save_model`` and loaded by ``nnlib.models.load_model`` as ONE zip file::

    metadata.json    format name and version (2), nnlib version, date (UTC), model class and
                     "members": the exact list of members below that this file holds
    config.json      {"class_name", "config", "build_input_shape", "compile_config"}: what
                     to rebuild (plain JSON; NaN/Infinity not allowed)
    weights.npz      the arrays, NumPy's .npz layout (stored, not compressed), one .npy each
    optimizer.json   optional, with optimizer.npz: the optimizer state (both or neither)
    optimizer.npz
    tokenizer.json   optional: the model's tokenizer (GPT), nnlib.text's JSON format

Members are written in that order; the JSON members are deflated, the .npz members stored.

Limits (checked from the zip directory before anything is read, then again while reading,
never trusting a declared size): the file must be a regular file (no FIFO, device or
folder; a symlink to one is refused too) of at most :data:`MAX_FILE_BYTES`; metadata.json
at most 64 KiB, config.json and optimizer.json 4 MiB, tokenizer.json 16 MiB, other JSON
1 MiB, with at most :data:`MAX_JSON_CONTAINERS` lists/objects; a deflated member may expand
at most :data:`MAX_RATIO` times; .npz members are stored, their arrays' byte counts must
match their ``.npy`` headers (plain bool/int/float dtypes, at most 32 axes) and the bytes
really present, so an array is only allocated for bytes that are in the file; at most
:data:`MAX_ARRAYS` arrays per .npz and :data:`MAX_ARRAY_BYTES` in all. A file must hold
exactly the members its metadata lists (a damaged zip directory cannot hide the
optimizer state), each one a ``.json`` or ``.npz`` of an allowed name; JSON members are
read with :func:`nnlib.saving.files.parse_json` (no duplicate keys, no NaN/Infinity
except in metadata.json).

Two promises:

* **Saving never corrupts an existing file.** The archive is written to a temporary
  file ``.<name>.<pid>.<random>.tmp`` in the same folder, flushed to disk, and only then
  renamed over the target with :func:`os.replace` (atomic on POSIX and Windows). If
  anything fails half-way, the old file is untouched and the temporary file is removed;
  a save killed outright (SIGKILL, power cut) leaves its temporary file, which the next
  save of the same name removes once the process that wrote it is gone. An existing file
  keeps its permission bits (0600 stays 0600); a folder, FIFO, device or socket at the
  target is refused, never replaced; a long name (up to the usual 255 bytes) works, the
  temporary name being shortened to fit. Every nnlib writer uses :func:`nnlib.saving.files.atomic_write`.
* **Loading never runs code from the file.** No pickle, no ``eval``, no regular
  expression or class name taken from the file (classes come from registries filled in
  code). Anything wrong raises :class:`ModelFileError` (a ``ValueError``) whose message
  starts with the file's path; a missing file raises ``FileNotFoundError`` with the path.

Any file extension works (the seed book saves ``final_model.h5``); the content is
always this zip format, never HDF5.
"""
from __future__ import annotations

import ast
import datetime
import errno
import io
import json
import os
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field

import numpy as np

from .files import MAX_JSON_CONTAINERS, ModelFileError, atomic_write, file_error, open_regular_file, parse_json

__all__ = [
    "Archive",
    "save_archive",
    "load_archive",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_JSON_BYTES",
    "MAX_ARRAY_BYTES",
    "MAX_FILE_BYTES",
    "MAX_ARRAYS",
    "MAX_RATIO",
]

FORMAT_NAME = "nnlib-archive"
#: metadata.json lists the members ("members"); the only version nnlib reads and writes
FORMAT_VERSION = 2
#: largest JSON member accepted by default (config and optimizer state: see _JSON_LIMITS)
MAX_JSON_BYTES = 1024 * 1024
#: largest total size of all arrays in one archive (uncompressed)
MAX_ARRAY_BYTES = 4 * 1024 ** 3
#: largest model file
MAX_FILE_BYTES = MAX_ARRAY_BYTES + 64 * 1024 ** 2
#: most arrays in one .npz member
MAX_ARRAYS = 100_000
#: largest expansion of a deflated member (uncompressed / compressed size)
MAX_RATIO = 200
_JSON_LIMITS = {"metadata.json": 64 * 1024, "config.json": 4 * 1024 ** 2, "optimizer.json": 4 * 1024 ** 2,
                "tokenizer.json": 16 * 1024 ** 2}
_NPY_HEADER_MAX = 16 * 1024
_CHUNK = 1 << 24

_RESERVED = {"config", "weights", "metadata"}
_GROUP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
_KEY = re.compile(r"^[A-Za-z0-9_.\-/:\[\]]{1,256}$")
_NUMERIC_KINDS = "biuf"
#: what zipfile raises for a damaged archive or member: a bad CRC or directory (BadZipFile), a corrupt
#: deflate stream (zlib.error), a forged "version needed to extract" or compression method
#: (NotImplementedError), an encrypted member (RuntimeError), impossible offsets (ValueError, EOFError),
#: a forged count or offset beyond any integer (OverflowError)
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError, ValueError,
            OverflowError, struct.error)


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


def _write_npz(out, arrays: dict) -> None:
    """Write an .npz (one stored .npy member per array, like ``np.savez``) to the file object ``out``."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, arr in arrays.items():
            with zf.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(arr), allow_pickle=False)


def _json_bytes(value, what: str, allow_nan: bool = False) -> bytes:
    try:
        text = json.dumps(value, indent=1, sort_keys=False, allow_nan=allow_nan, default=_json_default)
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
        from .. import __version__
    except ImportError:  # pragma: no cover - during partial imports
        return "unknown"
    return __version__


def _write_members(path_like, members) -> None:
    """Write (name, data, compress) members into a zip at ``path_like`` (a file object).

    ``data`` is bytes, or a dict of arrays written as a stored .npz.
    """
    with zipfile.ZipFile(path_like, "w", allowZip64=True) as zf:
        for name, data, compress in members:
            if isinstance(data, dict):
                data = _npz_bytes(data)
            zf.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED)


def _npz_bytes(arrays: dict) -> bytes:
    """The bytes of an .npz file (one stored .npy member per array), like ``np.savez``."""
    buffer = io.BytesIO()
    _write_npz(buffer, arrays)
    return buffer.getvalue()


def save_archive(path, config: dict, arrays: dict, metadata: dict | None = None,
                 extra_arrays: dict | None = None, extra_json: dict | None = None) -> str:
    """Chapter 07: write one nnlib archive to ``path`` atomically; returns the path written.

    ``config`` (a JSON-serializable dict, no NaN/Infinity) becomes config.json;
    ``arrays`` (name -> ndarray or Tensor) becomes weights.npz; ``metadata`` is
    merged into metadata.json next to the format name/version, nnlib version, UTC
    date and the list of members; ``extra_arrays`` ({group: {name: array}}) become
    ``<group>.npz`` and ``extra_json`` ({name: value}) ``<name>.json``. Any
    extension is fine (``model.h5`` too); the file is always a zip in this format.
    """
    path = os.fspath(path)
    if not isinstance(config, dict):
        raise TypeError(f"save_archive: config must be a dict, got {type(config).__name__}")
    arrays = _check_arrays(arrays, "arrays")
    members = [("config.json", _json_bytes(config, "config"), True), ("weights.npz", arrays, False)]
    for group, group_arrays in (extra_arrays or {}).items():
        _check_group_name(group, "extra array group")
        members.append((f"{group}.npz", _check_arrays(group_arrays, f"extra_arrays[{group!r}]"), False))
    for name, value in (extra_json or {}).items():
        _check_group_name(name, "extra JSON")
        members.append((f"{name}.json", _json_bytes(value, f"extra_json[{name!r}]"), True))
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "nnlib_version": _version(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    if metadata:
        if not isinstance(metadata, dict):
            raise TypeError(f"save_archive: metadata must be a dict, got {type(metadata).__name__}")
        meta.update({k: v for k, v in metadata.items() if k not in ("format", "format_version", "members")})
    meta["members"] = ["metadata.json"] + [name for name, _, _ in members]
    members.insert(0, ("metadata.json", _json_bytes(meta, "metadata", allow_nan=True), True))
    if len(members[0][1]) > _JSON_LIMITS["metadata.json"]:
        raise ValueError(f"save_archive: the metadata is {len(members[0][1]):,} bytes as JSON, more than the "
                         f"{_JSON_LIMITS['metadata.json']:,} a file may hold")
    return atomic_write(path, lambda f: _write_members(f, members), "save_archive")



# ---------------------------------------------------------------------- reading
def _read_capped(stream, limit: int) -> bytes:
    """Read at most ``limit`` bytes; a ValueError if there are more (the declared size is not trusted)."""
    parts, total = [], 0
    while True:
        chunk = stream.read(min(_CHUNK, limit + 1 - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
        if total > limit:
            raise ValueError(f"more than {limit:,} bytes")
    return b"".join(parts)


def _check_info(info: zipfile.ZipInfo, path: str, limit: int, file_size: int, stored: bool) -> None:
    """Refuse a member from its directory entry alone: too big, too compressed, encrypted, past the file's end."""
    name = info.filename
    if info.flag_bits & 0x1:
        raise file_error(path, f"member {name!r} is encrypted; nnlib never writes encrypted members")
    if info.file_size > limit:
        raise file_error(path, f"member {name!r} is {info.file_size:,} bytes uncompressed, more than the "
                               f"allowed {limit:,}; refusing to unpack it (a zip bomb or a wrong file?)")
    if info.header_offset < 0 or info.header_offset + info.compress_size > file_size:
        raise file_error(path, f"member {name!r} claims to lie beyond the end of the file; the zip is damaged or "
                               "tampered with")
    if stored:
        if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            raise file_error(path, f"member {name!r} must be stored uncompressed (nnlib stores arrays so; "
                                   "compressed arrays are refused: they could be a zip bomb)")
    elif info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise file_error(path, f"member {name!r} uses compression method {info.compress_type}; nnlib writes "
                               "stored or deflated members only")
    elif info.file_size > MAX_RATIO * max(info.compress_size, 1) + 1024:
        raise file_error(path, f"member {name!r} would expand {info.file_size:,} / {info.compress_size:,} times "
                               f"(more than {MAX_RATIO}x); refusing it as a zip bomb")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, limit: int) -> bytes:
    try:
        with zf.open(info) as member:
            data = _read_capped(member, min(limit, info.file_size))
    except _DAMAGED as exc:
        raise file_error(path, f"member {info.filename!r} is damaged or truncated ({exc})") from None
    if len(data) != info.file_size:
        raise file_error(path, f"member {info.filename!r} is damaged or truncated")
    return data




class _Window(io.RawIOBase):
    """A read-only, seekable view of ``length`` bytes of ``f`` from ``start`` (a stored zip member)."""

    def __init__(self, f, start: int, length: int):
        self._f, self._start, self._length, self._pos = f, start, length, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=0):
        base = {0: 0, 1: self._pos, 2: self._length}[whence]
        pos = base + offset
        if pos < 0:
            raise OSError(errno.EINVAL, "negative seek position")
        self._pos = pos
        return pos

    def readinto(self, b):
        n = max(0, min(len(b), self._length - self._pos))
        if n == 0:
            return 0
        self._f.seek(self._start + self._pos)
        got = self._f.readinto(memoryview(b)[:n])
        self._pos += got or 0
        return got


def _parse_npy_header(raw: bytes, name: str, where: str, path: str):
    """(dtype, shape, fortran_order) from a .npy header's dict text, without NumPy's pickle paths."""
    text = raw.decode("latin1", errors="replace")
    try:
        header = ast.literal_eval(text.strip())  # literals only: never executes code
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        raise file_error(path, f"{where}: {name!r} has an unreadable header") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise file_error(path, f"{where}: {name!r} has a malformed header")
    descr, fortran, shape = header["descr"], header["fortran_order"], header["shape"]
    if not isinstance(descr, str) or len(descr) > 16:
        raise file_error(path, f"{where}: {name!r} is a structured/record array; only plain numeric arrays are allowed")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError, SyntaxError):
        raise file_error(path, f"{where}: {name!r} has an unknown dtype {descr!r}") from None
    if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject or dtype.fields is not None or dtype.subdtype:
        raise file_error(path, f"{where}: {name!r} has dtype {dtype} ({descr!r}); only bool, integer and float arrays "
                               "are allowed (object arrays would need pickle, which nnlib never loads)")
    if not isinstance(fortran, bool) or not isinstance(shape, tuple) or len(shape) > 32 or not all(
            type(n) is int and 0 <= n < 2 ** 62 for n in shape):
        raise file_error(path, f"{where}: {name!r} has an invalid shape {str(shape)[:100]}")
    return dtype, shape, fortran


def _read_npy(zf, info, name: str, member: str, path: str) -> np.ndarray:
    with zf.open(info) as f:
        head = f.read(12)
        if len(head) < 10 or head[:6] != b"\x93NUMPY":
            raise file_error(path, f"{member}: {name!r} is not a .npy array")
        major = head[6]
        if major == 1:
            hlen, start = int.from_bytes(head[8:10], "little"), 10
        elif major in (2, 3):
            hlen, start = int.from_bytes(head[8:12], "little"), 12
        else:
            raise file_error(path, f"{member}: {name!r} uses unknown .npy format version {major}")
        if hlen > _NPY_HEADER_MAX or start + hlen > info.file_size:
            raise file_error(path, f"{member}: {name!r} has a truncated or oversized header")
        raw = head[start:] + f.read(start + hlen - len(head))
        dtype, shape, fortran = _parse_npy_header(raw, name, member, path)
        count = 1
        for n in shape:
            count *= n
        nbytes = count * dtype.itemsize
        if nbytes != info.file_size - start - hlen:  # only bytes the file really holds are allocated
            raise file_error(path, f"{member}: array {name!r} declares shape {shape} of {dtype} ({nbytes:,} bytes) "
                                   f"but holds {info.file_size - start - hlen:,} bytes; the file is truncated or "
                                   "tampered with")
        flat = np.empty(count, dtype=dtype)
        view = memoryview(flat).cast("B") if nbytes else memoryview(b"")
        done = 0
        while done < nbytes:
            chunk = f.read(min(_CHUNK, nbytes - done))
            if not chunk:
                raise file_error(path, f"{member}: array {name!r} is truncated")
            view[done:done + len(chunk)] = chunk
            done += len(chunk)
        if f.read(1):  # also makes zipfile check the CRC
            raise file_error(path, f"{member}: array {name!r} has trailing bytes")
    arr = flat.reshape(shape, order="F" if fortran else "C")
    if fortran and arr.ndim > 1:
        arr = np.ascontiguousarray(arr)
    if dtype.byteorder not in "=|":
        arr = arr.astype(dtype.newbyteorder("="))
    return arr


def _read_npz(outer, info: zipfile.ZipInfo, path: str, budget: list) -> dict:
    """The arrays of the stored .npz member ``info`` of the zip file ``outer`` (a file object)."""
    member = info.filename
    outer.seek(info.header_offset)
    local = outer.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise file_error(path, f"{member}: its local header is damaged")
    start = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
    window = _Window(outer, start, info.compress_size)
    crc = 0
    buffer = bytearray(min(1 << 20, max(info.compress_size, 1)))
    while True:  # the .npz's own CRC: a damaged byte between its arrays is caught too
        got = window.readinto(buffer)
        if not got:
            break
        crc = zlib.crc32(memoryview(buffer)[:got], crc)
    if window.tell() != info.compress_size or crc != info.CRC:
        raise file_error(path, f"member {member!r} is damaged or truncated (bad CRC)")
    window.seek(0)
    try:
        zf = zipfile.ZipFile(window)
    except _DAMAGED as exc:
        raise file_error(path, f"{member} is not a valid .npz file ({exc})") from None
    arrays = {}
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ARRAYS:
            raise file_error(path, f"{member} holds {len(infos):,} arrays, more than the allowed {MAX_ARRAYS:,}")
        for inner in infos:
            if not inner.filename.endswith(".npy"):
                raise file_error(path, f"{member}: unexpected member {inner.filename!r} (only .npy arrays are allowed)")
            name = inner.filename[:-4]
            if name in arrays:
                raise file_error(path, f"{member}: array {name!r} appears twice")
            _check_info(inner, f"{path} ({member})", budget[0], info.compress_size, stored=True)
            try:
                arrays[name] = _read_npy(zf, inner, name, member, path)
            except _DAMAGED as exc:
                if isinstance(exc, ModelFileError):
                    raise
                raise file_error(path, f"{member}: array {name!r} is damaged or truncated ({exc})") from None
            budget[0] -= arrays[name].nbytes
    return arrays


def _allowed_member(name: str) -> bool:
    stem, _, ext = name.rpartition(".")
    return (name in ("config.json", "weights.npz", "metadata.json")
            or (ext in ("npz", "json") and bool(_GROUP_NAME.match(stem)) and stem not in _RESERVED))


def load_archive(path, max_bytes: int | None = None) -> Archive:
    """Chapter 07: read and validate an archive written by :func:`save_archive`.

    Raises ``FileNotFoundError`` (with the path) for a missing file and
    :class:`ModelFileError` for anything else that is wrong (see the module
    docstring's limits): not a regular file, not a zip, not an nnlib archive,
    truncated, members missing or unexpected, bad JSON, non-numeric or
    inconsistent arrays, arrays larger than ``max_bytes`` in total (default
    :data:`MAX_ARRAY_BYTES`). Never unpickles and never evaluates anything from
    the file.
    """
    path = os.fspath(path)
    limit = MAX_ARRAY_BYTES if max_bytes is None else int(max_bytes)
    with open_regular_file(path, max(MAX_FILE_BYTES, limit + 64 * 1024 ** 2)) as f:
        return _load_from(f, path, limit)


def _open_zip(f, path: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(f)
    except zipfile.BadZipFile:
        f.seek(0)
        head = f.read(8)
        if head.startswith(b"PK"):
            raise file_error(path, "the zip archive is truncated or damaged (its directory at the end is missing); "
                                   "was the save interrupted or the download incomplete?") from None
        if head.startswith(b"\x89HDF"):
            raise file_error(path, "this is an HDF5 file (e.g. saved by Keras/TensorFlow), not an nnlib model; nnlib "
                                   "writes and reads its own zip format only") from None
        raise file_error(path, "not an nnlib model file (not a zip archive; nnlib's save() writes zip "
                               "archives)") from None
    except _DAMAGED as exc:  # e.g. a forged "version needed to extract" in the zip directory
        raise file_error(path, f"the zip archive is damaged or was tampered with ({exc})") from None


def _load_from(f, path: str, limit: int) -> Archive:
    file_size = os.fstat(f.fileno()).st_size
    zf = _open_zip(f, path)
    with zf:
        infos = {}
        entries = zf.infolist()
        if len(entries) > 64:
            raise file_error(path, f"the archive has {len(entries):,} members; an nnlib file has at most a handful")
        for info in entries:
            if info.filename in infos:
                raise file_error(path, f"member {info.filename!r} appears twice")
            infos[info.filename] = info
        if "metadata.json" not in infos:
            raise file_error(path, "not an nnlib archive: it has no metadata.json "
                                   f"(members: {sorted(infos)[:10]})")

        def json_member(name, allow_nan=False):
            info = infos[name]
            cap = _JSON_LIMITS.get(name, MAX_JSON_BYTES)
            _check_info(info, path, cap, file_size, stored=False)
            return parse_json(_read_member(zf, info, path, cap), path, name, allow_nan=allow_nan,
                              max_containers=MAX_JSON_CONTAINERS)

        metadata = json_member("metadata.json", allow_nan=True)
        if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
            raise file_error(path, f"not an nnlib archive: metadata.json does not say format={FORMAT_NAME!r}")
        version = metadata.get("format_version")
        if type(version) is not int or version < 1:
            raise file_error(path, f"metadata.json has an invalid format_version {str(version)[:50]!r}")
        if version > FORMAT_VERSION:
            raise file_error(path, f"written in archive format {version}, newer than this nnlib understands "
                                   f"({FORMAT_VERSION}); upgrade nnlib")
        if version < FORMAT_VERSION:
            raise file_error(path, f"written in archive format {version}, which nnlib no longer reads (it reads "
                                   f"format {FORMAT_VERSION}); save the model again with a current nnlib")
        listed = metadata.get("members")
        if not isinstance(listed, list) or not all(isinstance(m, str) for m in listed) \
                or len(set(listed)) != len(listed):
            raise file_error(path, "metadata.json has no valid list of members")
        if set(listed) != set(infos):
            missing, unexpected = sorted(set(listed) - set(infos)), sorted(set(infos) - set(listed))
            raise file_error(path, f"the archive's members do not match its metadata (missing {missing}, "
                                   f"unexpected {unexpected}); the zip is damaged or tampered with")
        for name in infos:
            if not _allowed_member(name):
                raise file_error(path, f"unexpected member {name!r} in the archive (tampered with?)")
        for required in ("config.json", "weights.npz"):
            if required not in infos:
                raise file_error(path, f"the archive has no {required}; it is incomplete or tampered with")
        config = json_member("config.json")
        if not isinstance(config, dict):
            raise file_error(path, f"config.json must hold a JSON object, got {type(config).__name__}")
        for name, info in infos.items():  # every directory entry is checked before any member is read
            if name.endswith(".npz"):
                _check_info(info, path, limit, file_size, stored=True)
            else:
                _check_info(info, path, _JSON_LIMITS.get(name, MAX_JSON_BYTES), file_size, stored=False)
        budget = [limit]
        arrays = None
        extra, extra_json = {}, {}
        for name, info in infos.items():
            if name in ("metadata.json", "config.json"):
                continue
            stem, _, ext = name.rpartition(".")
            if ext == "npz":
                if info.file_size > budget[0]:
                    raise file_error(path, f"member {name!r} is {info.file_size:,} bytes uncompressed, more than the "
                                           f"allowed {budget[0]:,} (raise max_bytes if this is expected)")
                group = _read_npz(f, info, path, budget)
                if stem == "weights":
                    arrays = group
                else:
                    extra[stem] = group
            else:
                extra_json[stem] = json_member(name)
    return Archive(config=config, arrays=arrays, metadata=metadata, extra=extra, extra_json=extra_json)
