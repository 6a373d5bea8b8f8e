"""Chapter 14 (first used in chapter 07 by ``model.save``): the file utilities every nnlib reader and writer uses.

* :func:`atomic_write`: a file is written all at once or not at all (a temporary file in the same
  folder, flushed, then renamed over the target); an existing file keeps its permission bits, a
  folder, FIFO, device or socket at the target is refused, never replaced.
* :func:`open_regular_file` / :func:`read_regular_file`: open or read a file only if it is a regular
  file (no FIFO, device or folder, nor a symlink to one) of at most a given size.
* :func:`parse_json` / :func:`read_json`: nnlib's one strict JSON reader: size-bounded, a bounded
  number of lists/objects, UTF-8 only, no duplicate keys, no NaN/Infinity (unless allowed). An
  error names the file and the part of it (``model.nnlib: config.json is not valid JSON (...)``).
* :class:`ModelFileError` (a ``ValueError``) and :func:`file_error`: every error about a file's
  content says which file first.

The model archive (:mod:`nnlib.saving.archive`), the tokenizer files (:mod:`nnlib.text`), the
exporters (:mod:`nnlib.export`) and the Hugging Face folders (:mod:`nnlib.hub`) all use these.
"""
from __future__ import annotations

import errno
import json
import os
import re
import secrets
import stat
import time

__all__ = ["ModelFileError", "file_error", "atomic_write", "remove_stale_temp_files", "open_regular_file",
           "read_regular_file", "parse_json", "read_json", "unique_object_pairs", "RepeatedKeyError",
           "MAX_JSON_CONTAINERS"]

#: most lists and objects in one JSON document by default (each costs a Python object when parsed)
MAX_JSON_CONTAINERS = 300_000


class ModelFileError(ValueError):
    """Chapter 07: a model/checkpoint file is not a valid nnlib archive (says which file and why)."""


def file_error(path, message: str, error=ModelFileError) -> Exception:
    """Chapter 07: the error (default :class:`ModelFileError`) for ``path``: its message starts with the path.

    ``raise file_error(path, "member 'x' is damaged")`` -> ``ModelFileError("model.nnlib: member 'x' is damaged")``.
    """
    return error(f"{os.fspath(path)}: {message}")


# ---------------------------------------------------------------------- writing
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


def _kind(mode: int) -> str:
    """What a file that is not a regular file or a folder is, in words."""
    return ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "not a regular file")


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
        raise FileExistsError(errno.EEXIST, f"{who}: {path!r} exists and is {_kind(st.st_mode)}; nnlib replaces "
                                            "regular files only (remove it or choose another name)", path)
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
            raise error(f"{path}: is {_kind(st.st_mode)}, not a regular file; an nnlib {what} must be a plain file")
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


# ---------------------------------------------------------------------- strict JSON
class _Refused(ValueError):
    """What the parser's constant hook raises: NaN/Infinity."""


class RepeatedKeyError(ValueError):
    """Chapter 14: a JSON object names one key twice (``.key``); raised by :func:`unique_object_pairs`."""

    def __init__(self, key: str):
        super().__init__(f"duplicate key {key[:40]!r} in a JSON object (each field may appear once)")
        self.key = key


def unique_object_pairs(pairs) -> dict:
    """Chapter 14: ``json.loads``'s ``object_pairs_hook`` that refuses a repeated key (:class:`RepeatedKeyError`).

    Python's ``json`` keeps the last of two equal keys; a file or a request that says two things
    about one field is refused instead (nnlib's model files and nnlib.serve's request bodies).
    """
    out = dict(pairs)
    if len(out) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise RepeatedKeyError(key)
            seen.add(key)
    return out


def _no_constant(name):
    raise _Refused(f"it holds {name}, which strict JSON does not allow")


def parse_json(data: bytes, path, what: str, max_bytes: int | None = None, allow_nan: bool = False,
               max_containers: int | None = None, error=ModelFileError):
    """Chapter 14: nnlib's strict JSON parser: the value in ``data`` (UTF-8 bytes), or ``error`` naming the file.

    ``path`` and ``what`` (the file and which part of it: ``"config.json"``, ``"the safetensors
    header"``) start every message: ``"<path>: <what> is not valid JSON (...)"``. Refused: more than
    ``max_bytes`` bytes (when given), more than ``max_containers`` lists/objects (default
    :data:`MAX_JSON_CONTAINERS`; counted before parsing), bytes that are not UTF-8, a key repeated in
    one object, NaN/Infinity (unless ``allow_nan``), nesting deeper than Python's recursion limit,
    integers of more than 4,300 digits.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise file_error(path, f"{what} is {len(data):,} bytes, more than the {max_bytes:,} allowed", error)
    limit = MAX_JSON_CONTAINERS if max_containers is None else max_containers
    containers = data.count(b"[") + data.count(b"{")
    if containers > limit:
        raise file_error(path, f"{what} holds {containers:,} lists/objects, more than the {limit:,} allowed", error)
    try:
        text = data.decode("utf-8")
        if allow_nan:
            return json.loads(text, object_pairs_hook=unique_object_pairs)
        return json.loads(text, object_pairs_hook=unique_object_pairs, parse_constant=_no_constant)
    except RepeatedKeyError as exc:
        raise file_error(path, f"{what} is not valid JSON (it repeats the key {exc.key[:80]!r})", error) from None
    except _Refused as exc:
        raise file_error(path, f"{what} is not valid JSON ({exc})", error) from None
    except UnicodeDecodeError as exc:
        raise file_error(path, f"{what} is not valid JSON (not UTF-8: {str(exc)[:200]})", error) from None
    except (ValueError, RecursionError) as exc:  # ValueError: also ints over 4,300 digits
        raise file_error(path, f"{what} is not valid JSON ({type(exc).__name__}: {str(exc)[:200]})", error) \
            from None


def read_json(path, max_bytes: int, what: str | None = None, allow_nan: bool = False,
              max_containers: int | None = None, error=ModelFileError):
    """Chapter 14: the JSON value in the regular file ``path`` of at most ``max_bytes`` bytes.

    :func:`read_regular_file` then :func:`parse_json`: ``what`` (default: the file's name) names it in
    the messages; ``error`` is the exception raised for a bad file (a missing one raises
    ``FileNotFoundError``).
    """
    what = os.path.basename(os.fspath(path)) if what is None else what
    data = read_regular_file(path, max_bytes, error, what)
    return parse_json(data, path, what, allow_nan=allow_nan, max_containers=max_containers, error=error)
