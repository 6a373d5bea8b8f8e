"""Chapter 14: hostile tokenizer files (nnlib.text) end in a clear error, fast and bounded."""
import json

import pytest

import nnlib
from nnlib.text import BPETokenizer, CharTokenizer
from tests.nnlib.saving.hostile import refused


def test_oversized_tokenizer_file_is_refused(tmp_path):
    from nnlib import text

    path = tmp_path / "tok.json"
    path.write_bytes(b" " * (text.MAX_TOKENIZER_BYTES + 1))
    refused(path, CharTokenizer.load, ValueError, match="more than")


def test_bpe_pattern_is_stored_by_name_and_never_compiled_from_a_file(tmp_path):
    tok = BPETokenizer.train("hello hello world " * 20, 262)
    tok.save(tmp_path / "tok.json")
    saved = json.loads((tmp_path / "tok.json").read_text())
    assert saved["pattern_name"] == "default" and "pattern" not in saved
    assert BPETokenizer.load(tmp_path / "tok.json").encode("hello world") == tok.encode("hello world")
    saved.pop("pattern_name")
    saved["pattern"] = r"(\w+\s?)+$"  # catastrophic backtracking on a sentence
    (tmp_path / "evil.json").write_text(json.dumps(saved))
    refused(tmp_path / "evil.json", BPETokenizer.load, ValueError, match=r"unknown entries \['pattern'\]")
    saved["pattern"] = nnlib.text.PRE_SPLIT_PATTERN  # even a known regex: a file names its pattern
    (tmp_path / "known.json").write_text(json.dumps(saved))
    refused(tmp_path / "known.json", BPETokenizer.load, ValueError, match=r"unknown entries \['pattern'\]")
    custom = BPETokenizer(pattern=r"\S+|\s+")
    with pytest.raises(ValueError, match="register_pre_split_pattern"):
        custom.save(tmp_path / "custom.json")
