"""Chapter 14: nnlib.saving.files: atomic writes, regular files only, and the one strict JSON reader."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import nnlib.saving.archive as archive_mod
from nnlib.gpt import GPT
from nnlib.models import Sequential, load_model, save_model
from nnlib.saving.archive import save_archive
from nnlib.saving.files import ModelFileError, parse_json, read_json
from nnlib.text import BPETokenizer, CharTokenizer
from tests import REPO_ROOT
from tests.nnlib.saving.hostile import fifo_or_skip, refused, small_sequential

ROOT = str(REPO_ROOT)


def test_atomic_write_gives_usual_permissions_and_cleans_up(tmp_path):
    reference = tmp_path / "plain.bin"
    reference.write_bytes(b"x")  # created the ordinary way: 0o666 less the umask
    path = tmp_path / "m.h5"
    save_archive(path, {}, {"w": np.ones(2)})
    assert path.stat().st_mode & 0o777 == reference.stat().st_mode & 0o777
    assert archive_mod.atomic_write(tmp_path / "a.txt", lambda f: f.write(b"hello")) == str(tmp_path / "a.txt")
    assert (tmp_path / "a.txt").read_bytes() == b"hello"

    def half_then_fail(f):
        f.write(b"half")
        raise ValueError("no more")
    with pytest.raises(ValueError, match="no more"):
        archive_mod.atomic_write(tmp_path / "a.txt", half_then_fail)
    assert (tmp_path / "a.txt").read_bytes() == b"hello"
    assert sorted(os.listdir(tmp_path)) == ["a.txt", "m.h5", "plain.bin"]


@pytest.mark.parametrize("loader", [load_model, CharTokenizer.load, BPETokenizer.load, GPT.load])
def test_symlinks_to_fifos_and_devices_are_refused(tmp_path, loader):
    fifo = tmp_path / "pipe"
    fifo_or_skip(fifo)
    error = ModelFileError if loader in (load_model, GPT.load) else ValueError
    link = tmp_path / "model.nnlib"
    link.symlink_to(fifo)
    done = []
    thread = threading.Thread(target=lambda: done.append(refused(link, loader, error, match="FIFO")),
                              daemon=True)
    thread.start()
    thread.join(5)
    assert done, "loading a FIFO blocked"
    if os.path.exists("/dev/zero"):
        zero = tmp_path / "zero.nnlib"
        zero.symlink_to("/dev/zero")
        refused(zero, loader, error, match="device", max_mib=4)
    with pytest.raises(error):
        loader(tmp_path)  # a folder


def test_killed_save_leaves_a_temp_file_that_the_next_save_removes(tmp_path):
    target = tmp_path / "big.nnlib"
    script = textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {ROOT!r})
        import nnlib.saving.archive as archive_mod
        def slow(f, members):
            f.write(b"x" * 1_000_000)
            f.flush()
            print("writing", flush=True)
            import time; time.sleep(60)
        archive_mod._write_members = slow
        archive_mod.save_archive({str(target)!r}, {{}}, {{"w": np.zeros(10)}})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": ROOT})
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert len(leftovers) == 1 and str(proc.pid) in leftovers[0]
    # a temp file of a LIVE process (this one, another name pattern) is never touched
    live = tmp_path / f".big.nnlib.{os.getppid()}.{'a' * 12}.tmp"
    live.write_bytes(b"in progress")
    other = tmp_path / ".other.nnlib.1.aaaaaaaaaaaa.tmp"
    other.write_bytes(b"not ours")
    time.sleep(0.05)
    save_model(small_sequential(compiled=False), target)
    names = sorted(os.listdir(tmp_path))
    assert leftovers[0] not in names
    assert live.name in names and other.name in names and "big.nnlib" in names
    assert type(load_model(target)) is Sequential


# ---------------------------------------------------------------------- the one strict JSON reader
@pytest.mark.parametrize("data,match", [
    (b'{"a": 1, "b": {"c": 2, "c": 3}}', r"x\.nnlib: config\.json is not valid JSON \(it repeats the key 'c'\)"),
    (b'{"lr": NaN}', r"config\.json is not valid JSON \(it holds NaN, which strict JSON does not allow\)"),
    (b'[Infinity]', "holds Infinity"),
    (b'[-Infinity]', "holds -Infinity"),
    (b'\xff\xfe{}', r"not valid JSON \(not UTF-8"),
    (b'{"a": ', r"not valid JSON \(JSONDecodeError"),
    (b"[" * 100_000, r"not valid JSON \(RecursionError"),
    (b"[" + b"9" * 5000 + b"]", "not valid JSON"),
    (b"[" * 11, "holds 11 lists/objects, more than the 10 allowed"),
])
def test_parse_json_refuses_what_strict_json_does_not_allow(data, match):
    with pytest.raises(ModelFileError, match=match):
        parse_json(data, "x.nnlib", "config.json", max_containers=10 if data == b"[" * 11 else None)


def test_parse_json_bounds_allows_nan_on_request_and_raises_the_given_error():
    assert parse_json(b'{"a": [1, 2.5, "x", null, true]}', "f", "w") == {"a": [1, 2.5, "x", None, True]}
    assert parse_json(b'[NaN]', "f", "w", allow_nan=True)[0] != parse_json(b'[NaN]', "f", "w", allow_nan=True)[0]
    with pytest.raises(ModelFileError, match="f: w repeats|f: w is not valid JSON .it repeats"):
        parse_json(b'{"a": NaN, "a": 1}', "f", "w", allow_nan=True)  # NaN allowed, a repeated key never
    with pytest.raises(ModelFileError, match="f: w is 9 bytes, more than the 8 allowed"):
        parse_json(b'[1, 2, 3]', "f", "w", max_bytes=8)
    with pytest.raises(ValueError, match="not valid JSON") as info:
        parse_json(b"{", "f", "w", error=ValueError)
    assert type(info.value) is ValueError


def test_read_json_reads_regular_files_only_and_names_them(tmp_path):
    path = tmp_path / "config.json"
    path.write_bytes(b'{"n": 1, "n": 2}')
    with pytest.raises(ModelFileError, match=f"{path}: config.json is not valid JSON .it repeats the key 'n'"):
        read_json(path, 100)
    path.write_bytes(b'{"n": 1}')
    assert read_json(path, 100) == {"n": 1}
    with pytest.raises(ModelFileError, match="more than the 5 allowed"):
        read_json(path, 5)
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "missing.json", 100)
    with pytest.raises(ModelFileError, match="folder"):
        read_json(tmp_path, 100)
