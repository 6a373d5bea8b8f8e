"""Chapter 14 (first used in chapter 07 by ``model.save``): nnlib's one model file format.

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
:data:`MAX_ARRAYS` arrays per .npz and :data:`MAX_ARRAY_BYTES` in all. A format-2 file
must hold exactly the members its metadata lists (a damaged zip directory cannot hide
the optimizer state); format-1 files (older nnlib) are read with a fixed set of allowed
members.

Two promises:

* **Saving never corrupts an existing file.** The archive is written to a temporary
  file ``.<name>.<pid>.<random>.tmp`` in the same folder, flushed to disk, and only then
  renamed over the target with :func:`os.replace` (atomic on POSIX and Windows). If
  anything fails half-way, the old file is untouched and the temporary file is removed;
  a save killed outright (SIGKILL, power cut) leaves its temporary file, which the next
  save of the same name removes once the process that wrote it is gone. An existing file
  keeps its permission bits (0600 stays 0600); a folder, FIFO, device or socket at the
  target is refused, never replaced; a long name (up to the usual 255 bytes) works, the
  temporary name being shortened to fit. Every nnlib writer uses :func:`atomic_write`.
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
import secrets
import stat
import struct
import time
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
    "open_regular_file",
    "read_regular_file",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_JSON_BYTES",
    "MAX_ARRAY_BYTES",
    "MAX_FILE_BYTES",
]

FORMAT_NAME = "nnlib-archive"
#: 2: metadata.json lists the members ("members"); 1: older files, still read
FORMAT_VERSION = 2
#: largest JSON member accepted by default (config and optimizer state: see _JSON_LIMITS)
MAX_JSON_BYTES = 1024 * 1024
#: largest total size of all arrays in one archive (uncompressed)
MAX_ARRAY_BYTES = 4 * 1024 ** 3
#: largest model file
MAX_FILE_BYTES = MAX_ARRAY_BYTES + 64 * 1024 ** 2
#: most arrays in one .npz member
MAX_ARRAYS = 100_000
#: most lists and objects in one JSON member (each costs a Python object when parsed)
MAX_JSON_CONTAINERS = 300_000
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
        from . import __version__
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


#: longest file name most file systems take (bytes); a temporary name must fit too
_NAME_MAX = 255
#: bytes of a temporary name besides the target's name: "." + "." + pid (<= 10) + "." + 12 hex + ".tmp"
_TEMP_EXTRA = 1 + 1 + 10 + 1 + 12 + 4


def _temp_base(base: str) -> str:
    """The part of ``base`` a temporary name holds: all of it, or for a long name (over 255 bytes with the
    extras) a prefix plus a hash of the whole name, so that ``.<temp base>.<pid>.<hex>.tmp`` stays legal."""
    raw = os.fsencode(base)
    if len(raw) + _TEMP_EXTRA <= _NAME_MAX:
        return base
    import hashlib

    digest = hashlib.sha256(raw).hexdigest()[:16]
    keep = _NAME_MAX - _TEMP_EXTRA - len(digest) - 1
    prefix = base
    while len(os.fsencode(prefix)) > keep:  # cut whole characters, never half of a multi-byte one
        prefix = prefix[:max(1, min(len(prefix) - 1, keep))]
    return f"{prefix}~{digest}"


def _temp_pattern(base: str):
    return re.compile(r"^\." + re.escape(_temp_base(base)) + r"\.(\d{1,10})\.[0-9a-f]{12}\.tmp$")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # exists, owned by someone else (or we cannot tell): keep its file
        return True
    return True


def remove_stale_temp_files(folder: str, base: str, before: float) -> list:
    """Chapter 14: remove leftovers ``.<base>.<pid>.<hex>.tmp`` of saves that were killed.

    Only files of that exact name pattern, last modified before ``before`` (a
    ``time.time()``), whose writing process ``pid`` no longer exists; returns the
    paths removed. Files of live processes (a save running now) are never touched.
    """
    pattern = _temp_pattern(base)
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        m = pattern.match(name)
        if m is None or int(m.group(1)) == os.getpid():
            continue
        full = os.path.join(folder, name)
        try:
            st = os.lstat(full)
            if not stat.S_ISREG(st.st_mode) or st.st_mtime >= before or _pid_alive(int(m.group(1))):
                continue
            os.remove(full)
            removed.append(full)
        except OSError:
            continue
    return removed


def _create_temp(folder: str, base: str):
    """(fd, path) of a new, exclusively created file next to the target, with the usual permissions.

    ``os.open(..., 0o666)`` lets the operating system apply the umask, as for any new file
    (changing the process-wide umask to read it would race with other threads). The name
    holds this process's id, so a later save can tell a killed save's leftover from a live one.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    stem = _temp_base(base)
    for _ in range(100):
        tmp = os.path.join(folder, f".{stem}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file in {folder!r}")  # pragma: no cover


def _existing_target(path: str, who: str):
    """The ``os.stat`` of the file ``path`` replaces (None if there is none); refuses anything but a regular file.

    A symlink is followed for the check (a link to a FIFO is refused too); the link itself is
    what ``os.replace`` then replaces.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ENOENT or (exc.errno == errno.ELOOP and os.path.islink(path)):
            return None  # a dangling link (or a loop): replacing the link is all a save can do
        raise
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"{who}: {path!r} is a folder; give a file name")
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else
                "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise FileExistsError(errno.EEXIST, f"{who}: {path!r} exists and is {kind}; nnlib replaces regular files "
                                            "only (remove it or choose another name)", path)
    return st


def atomic_write(path, write, who: str = "atomic_write") -> str:
    """Chapter 14: write the file ``path`` all at once or not at all; returns the path written.

    ``write(f)`` fills a binary file object: a temporary file in the same folder,
    which is flushed to disk and then renamed over ``path`` with :func:`os.replace`
    (atomic on POSIX and Windows). If ``write`` fails or is interrupted, an existing
    file at ``path`` is left untouched and the temporary file is removed. Leftover
    temporary files of earlier saves of the same name whose process is gone (killed
    with SIGKILL, a power cut) are removed first.

    Every nnlib writer (``save_model``/``save_archive``, ``save_safetensors``,
    ``save_onnx``, a tokenizer's ``save``) goes through here. An existing file keeps
    its permission bits (a 0600 file stays 0600; a new file gets the usual
    ``0666 & ~umask``); an existing folder, FIFO, device or socket at ``path`` is
    refused (``IsADirectoryError`` / ``FileExistsError``), never replaced. A long
    (legal) name works: the temporary name is shortened to stay within 255 bytes.
    """
    path = os.fspath(path)
    start = time.time()
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{who}: the folder {folder!r} (for {path!r}) does not exist")
    existing = _existing_target(path, who)
    base = os.path.basename(path)
    remove_stale_temp_files(folder, base, start)
    fd, tmp = _create_temp(folder, base)
    try:
        with os.fdopen(fd, "wb") as f:
            if existing is not None and hasattr(os, "fchmod"):  # keep the replaced file's permissions
                os.fchmod(f.fileno(), stat.S_IMODE(existing.st_mode))
            write(f)
            f.flush()
            os.fsync(f.fileno())
        _existing_target(path, who)  # it may have become a FIFO or folder while we wrote
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


def open_regular_file(path, max_bytes: int, error=ModelFileError, what: str = "model file"):
    """Chapter 14: open ``path`` for reading only if it is a regular file of at most ``max_bytes``.

    The file is opened without blocking (a FIFO, or a symlink to one, would
    otherwise wait forever for a writer) and checked with ``fstat`` on the open
    descriptor: folders, FIFOs, devices such as ``/dev/zero`` and sockets are
    refused with ``error`` (the path in the message), a missing file raises
    ``FileNotFoundError``. Returns a binary file object.
    """
    path = os.fspath(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such {what}: {path!r} (absolute path: {os.path.abspath(path)})") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not an nnlib {what}") from None
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.EISDIR):
            raise error(f"{path}: is not a regular file ({exc.strerror})") from None
        raise error(f"{path}: cannot be read ({exc})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise error(f"{path}: is a folder, not an nnlib {what}")
        if not stat.S_ISREG(st.st_mode):
            kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else
                    "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                    "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
            raise error(f"{path}: is {kind}, not a regular file; an nnlib {what} must be a plain file")
        if st.st_size > max_bytes:
            raise error(f"{path}: is {st.st_size:,} bytes, more than the {max_bytes:,} allowed for an nnlib {what}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular_file(path, max_bytes: int, error=ModelFileError, what: str = "file") -> bytes:
    """Chapter 14: the bytes of the regular file ``path`` (see :func:`open_regular_file`), at most ``max_bytes``.

    Reads at most ``max_bytes + 1`` bytes whatever the file system says (a file that
    grows while it is read is refused too).
    """
    with open_regular_file(path, max_bytes, error, what) as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise error(f"{os.fspath(path)}: is larger than the {max_bytes:,} bytes allowed for an nnlib {what}")
    return data


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
        raise _fail(path, f"member {name!r} is encrypted; nnlib never writes encrypted members")
    if info.file_size > limit:
        raise _fail(path, f"member {name!r} is {info.file_size:,} bytes uncompressed, more than the "
                          f"allowed {limit:,}; refusing to unpack it (a zip bomb or a wrong file?)")
    if info.header_offset < 0 or info.header_offset + info.compress_size > file_size:
        raise _fail(path, f"member {name!r} claims to lie beyond the end of the file; the zip is damaged or "
                          "tampered with")
    if stored:
        if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            raise _fail(path, f"member {name!r} must be stored uncompressed (nnlib stores arrays so; "
                              "compressed arrays are refused: they could be a zip bomb)")
    elif info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _fail(path, f"member {name!r} uses compression method {info.compress_type}; nnlib writes "
                          "stored or deflated members only")
    elif info.file_size > MAX_RATIO * max(info.compress_size, 1) + 1024:
        raise _fail(path, f"member {name!r} would expand {info.file_size:,} / {info.compress_size:,} times "
                          f"(more than {MAX_RATIO}x); refusing it as a zip bomb")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, limit: int) -> bytes:
    try:
        with zf.open(info) as member:
            data = _read_capped(member, min(limit, info.file_size))
    except _DAMAGED as exc:
        raise _fail(path, f"member {info.filename!r} is damaged or truncated ({exc})") from None
    if len(data) != info.file_size:
        raise _fail(path, f"member {info.filename!r} is damaged or truncated")
    return data


def _no_constants(name):
    raise ValueError(f"{name} is not allowed here")


def _parse_json(data: bytes, member: str, path: str, allow_nan: bool = False):
    containers = data.count(b"[") + data.count(b"{")
    if containers > MAX_JSON_CONTAINERS:
        raise _fail(path, f"{member} holds {containers:,} lists/objects, more than the {MAX_JSON_CONTAINERS:,} "
                          "allowed")
    try:
        text = data.decode("utf-8")
        if allow_nan:
            return json.loads(text)
        return json.loads(text, parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # ValueError: also ints over 4,300 digits
        raise _fail(path, f"{member} is not valid JSON ({type(exc).__name__}: {str(exc)[:200]})") from None


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
        raise _fail(path, f"{where}: {name!r} has an unreadable header") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise _fail(path, f"{where}: {name!r} has a malformed header")
    descr, fortran, shape = header["descr"], header["fortran_order"], header["shape"]
    if not isinstance(descr, str) or len(descr) > 16:
        raise _fail(path, f"{where}: {name!r} is a structured/record array; only plain numeric arrays are allowed")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError, SyntaxError):
        raise _fail(path, f"{where}: {name!r} has an unknown dtype {descr!r}") from None
    if dtype.kind not in _NUMERIC_KINDS or dtype.hasobject or dtype.fields is not None or dtype.subdtype:
        raise _fail(path, f"{where}: {name!r} has dtype {dtype} ({descr!r}); only bool, integer and float arrays "
                          "are allowed (object arrays would need pickle, which nnlib never loads)")
    if not isinstance(fortran, bool) or not isinstance(shape, tuple) or len(shape) > 32 or not all(
            type(n) is int and 0 <= n < 2 ** 62 for n in shape):
        raise _fail(path, f"{where}: {name!r} has an invalid shape {str(shape)[:100]}")
    return dtype, shape, fortran


def _read_npy(zf, info, name: str, member: str, path: str) -> np.ndarray:
    with zf.open(info) as f:
        head = f.read(12)
        if len(head) < 10 or head[:6] != b"\x93NUMPY":
            raise _fail(path, f"{member}: {name!r} is not a .npy array")
        major = head[6]
        if major == 1:
            hlen, start = int.from_bytes(head[8:10], "little"), 10
        elif major in (2, 3):
            hlen, start = int.from_bytes(head[8:12], "little"), 12
        else:
            raise _fail(path, f"{member}: {name!r} uses unknown .npy format version {major}")
        if hlen > _NPY_HEADER_MAX or start + hlen > info.file_size:
            raise _fail(path, f"{member}: {name!r} has a truncated or oversized header")
        raw = head[start:] + f.read(start + hlen - len(head))
        dtype, shape, fortran = _parse_npy_header(raw, name, member, path)
        count = 1
        for n in shape:
            count *= n
        nbytes = count * dtype.itemsize
        if nbytes != info.file_size - start - hlen:  # only bytes the file really holds are allocated
            raise _fail(path, f"{member}: array {name!r} declares shape {shape} of {dtype} ({nbytes:,} bytes) "
                              f"but holds {info.file_size - start - hlen:,} bytes; the file is truncated or "
                              "tampered with")
        flat = np.empty(count, dtype=dtype)
        view = memoryview(flat).cast("B") if nbytes else memoryview(b"")
        done = 0
        while done < nbytes:
            chunk = f.read(min(_CHUNK, nbytes - done))
            if not chunk:
                raise _fail(path, f"{member}: array {name!r} is truncated")
            view[done:done + len(chunk)] = chunk
            done += len(chunk)
        if f.read(1):  # also makes zipfile check the CRC
            raise _fail(path, f"{member}: array {name!r} has trailing bytes")
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
        raise _fail(path, f"{member}: its local header is damaged")
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
        raise _fail(path, f"member {member!r} is damaged or truncated (bad CRC)")
    window.seek(0)
    try:
        zf = zipfile.ZipFile(window)
    except _DAMAGED as exc:
        raise _fail(path, f"{member} is not a valid .npz file ({exc})") from None
    arrays = {}
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ARRAYS:
            raise _fail(path, f"{member} holds {len(infos):,} arrays, more than the allowed {MAX_ARRAYS:,}")
        for inner in infos:
            if not inner.filename.endswith(".npy"):
                raise _fail(path, f"{member}: unexpected member {inner.filename!r} (only .npy arrays are allowed)")
            name = inner.filename[:-4]
            if name in arrays:
                raise _fail(path, f"{member}: array {name!r} appears twice")
            _check_info(inner, f"{path} ({member})", budget[0], info.compress_size, stored=True)
            try:
                arrays[name] = _read_npy(zf, inner, name, member, path)
            except _DAMAGED as exc:
                if isinstance(exc, ModelFileError):
                    raise
                raise _fail(path, f"{member}: array {name!r} is damaged or truncated ({exc})") from None
            budget[0] -= arrays[name].nbytes
    return arrays


def _allowed_v1(name: str) -> bool:
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
            raise _fail(path, "the zip archive is truncated or damaged (its directory at the end is missing); "
                              "was the save interrupted or the download incomplete?") from None
        if head.startswith(b"\x89HDF"):
            raise _fail(path, "this is an HDF5 file (e.g. saved by Keras/TensorFlow), not an nnlib model; nnlib "
                              "writes and reads its own zip format only") from None
        raise _fail(path, "not an nnlib model file (not a zip archive; nnlib's save() writes zip archives)") from None
    except _DAMAGED as exc:  # e.g. a forged "version needed to extract" in the zip directory
        raise _fail(path, f"the zip archive is damaged or was tampered with ({exc})") from None


def _load_from(f, path: str, limit: int) -> Archive:
    file_size = os.fstat(f.fileno()).st_size
    zf = _open_zip(f, path)
    with zf:
        infos = {}
        entries = zf.infolist()
        if len(entries) > 64:
            raise _fail(path, f"the archive has {len(entries):,} members; an nnlib file has at most a handful")
        for info in entries:
            if info.filename in infos:
                raise _fail(path, f"member {info.filename!r} appears twice")
            infos[info.filename] = info
        if "metadata.json" not in infos:
            raise _fail(path, "not an nnlib archive: it has no metadata.json "
                              f"(members: {sorted(infos)[:10]})")

        def json_member(name, allow_nan=False):
            info = infos[name]
            cap = _JSON_LIMITS.get(name, MAX_JSON_BYTES)
            _check_info(info, path, cap, file_size, stored=False)
            return _parse_json(_read_member(zf, info, path, cap), name, path, allow_nan)

        metadata = json_member("metadata.json", allow_nan=True)
        if not isinstance(metadata, dict) or metadata.get("format") != FORMAT_NAME:
            raise _fail(path, f"not an nnlib archive: metadata.json does not say format={FORMAT_NAME!r}")
        version = metadata.get("format_version")
        if type(version) is not int or version < 1:
            raise _fail(path, f"metadata.json has an invalid format_version {str(version)[:50]!r}")
        if version > FORMAT_VERSION:
            raise _fail(path, f"written in archive format {version}, newer than this nnlib understands "
                              f"({FORMAT_VERSION}); upgrade nnlib")
        if version >= 2:
            listed = metadata.get("members")
            if not isinstance(listed, list) or not all(isinstance(m, str) for m in listed) \
                    or len(set(listed)) != len(listed):
                raise _fail(path, "metadata.json has no valid list of members")
            if set(listed) != set(infos):
                missing, unexpected = sorted(set(listed) - set(infos)), sorted(set(infos) - set(listed))
                raise _fail(path, f"the archive's members do not match its metadata (missing {missing}, "
                                  f"unexpected {unexpected}); the zip is damaged or tampered with")
        for name in infos:
            if not _allowed_v1(name):
                raise _fail(path, f"unexpected member {name!r} in the archive (tampered with?)")
        for required in ("config.json", "weights.npz"):
            if required not in infos:
                raise _fail(path, f"the archive has no {required}; it is incomplete or tampered with")
        config = json_member("config.json")
        if not isinstance(config, dict):
            raise _fail(path, f"config.json must hold a JSON object, got {type(config).__name__}")
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
                    raise _fail(path, f"member {name!r} is {info.file_size:,} bytes uncompressed, more than the "
                                      f"allowed {budget[0]:,} (raise max_bytes if this is expected)")
                group = _read_npz(f, info, path, budget)
                if stem == "weights":
                    arrays = group
                else:
                    extra[stem] = group
            else:
                extra_json[stem] = json_member(name)
    return Archive(config=config, arrays=arrays, metadata=metadata, extra=extra, extra_json=extra_json)
