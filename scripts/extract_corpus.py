"""Build the course's text corpus (Chapters 12-13) from Python's own documentation.

Chapter 12 pretrains a tiny GPT and Chapter 13 fine-tunes it; both read the text this
script writes to ``data/corpus/``. Nothing is downloaded: the text comes from the
documentation that ships inside every CPython installation.

* ``pydoc_data.topics.topics``: the help topics behind ``help("assert")`` and friends
  (the language reference and the built-in types, as plain text);
* the docstrings of a fixed list of pure-Python standard-library modules (module
  docstring, then each public class and function, with their methods).

Both are covered by the PSF License Agreement. The text is normalized to printable ASCII
plus newline, so a character-level model has a small, stable vocabulary.

Every document goes to ``train.txt`` except every tenth one (in a fixed order), which goes
to ``valid.txt``. Documents are separated by two blank lines; inside a document there is
at most one blank line in a row.

Usage (from the repository root)::

    python scripts/extract_corpus.py            # writes data/corpus/{train,valid}.txt, README.md
    python scripts/extract_corpus.py --check    # only checks the committed files are up to date

The committed files were made with the Python version named in ``data/corpus/README.md``;
another Python version gives slightly different text, which is why the files are
committed rather than regenerated on each machine.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import inspect
import platform
import re
import sys
import unicodedata
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "data" / "corpus"

# Pure-Python standard-library modules whose docstrings are read. Chosen to be the same on
# every operating system (no os, subprocess, selectors, ...) and to import without side
# effects. Only objects defined in the module itself (``obj.__module__``) are used, so
# functions implemented in C and names re-exported from elsewhere are skipped.
MODULES = (
    "argparse", "ast", "base64", "bdb", "bisect", "calendar", "cmd", "code", "codecs",
    "codeop", "collections", "colorsys", "concurrent.futures", "configparser",
    "contextlib", "copy", "csv", "dataclasses", "difflib", "dis", "doctest",
    "email.message", "email.parser", "email.utils", "enum", "filecmp", "fileinput",
    "fnmatch", "fractions", "ftplib", "functools", "getopt", "gettext", "glob",
    "graphlib", "gzip", "heapq", "hmac", "html", "html.parser", "http.client",
    "http.cookiejar", "http.cookies", "http.server", "imaplib", "inspect", "ipaddress",
    "json", "json.decoder", "json.encoder", "keyword", "linecache", "logging",
    "logging.handlers", "lzma", "mailbox", "numbers", "operator", "optparse", "pathlib",
    "pdb", "pickle", "pickletools", "pkgutil", "poplib", "pprint", "profile", "pstats",
    "pydoc", "queue", "quopri", "random", "reprlib", "rlcompleter", "runpy", "sched",
    "secrets", "shelve", "shlex", "shutil", "smtplib", "statistics", "string", "struct",
    "symtable", "tabnanny", "tarfile", "tempfile", "textwrap", "threading", "timeit",
    "tokenize", "trace", "traceback", "types", "typing", "unittest.case",
    "unittest.loader", "unittest.mock", "unittest.runner", "unittest.suite",
    "urllib.parse", "urllib.request", "urllib.robotparser", "uuid", "warnings", "wave",
    "weakref", "xml.dom.minidom", "xml.etree.ElementTree", "xml.sax.handler", "zipapp",
    "zipfile", "zipimport",
)

VALID_EVERY = 10  # document i goes to valid.txt when i % VALID_EVERY == VALID_EVERY - 1
DOC_SEPARATOR = "\n\n\n"  # two blank lines between documents

# Characters outside ASCII that have an obvious ASCII spelling. Anything else is first
# decomposed (NFKD, accents dropped) and, if still not ASCII, replaced by "?".
_ASCII_MAP = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u2026": "...", "\u2014": "--", "\u2013": "-", "\u2212": "-", "\u2010": "-",
    "\u2011": "-", "\u00a0": " ", "\u2022": "*", "\u00b7": "*", "\u2192": "->",
    "\u2190": "<-", "\u21d2": "=>", "\u2264": "<=", "\u2265": ">=", "\u2260": "!=",
    "\u00d7": "x", "\u00f7": "/", "\u00b0": " deg", "\u00df": "ss", "\u00e6": "ae",
    "\u00c6": "AE", "\u0153": "oe", "\u0152": "OE", "\u00f8": "o", "\u00d8": "O",
    "\u00a9": "(c)", "\u00ae": "(R)", "\u2122": "(TM)", "\u00ab": "<<", "\u00bb": ">>",
    "\u20ac": "EUR", "\u00a3": "GBP", "\u00b5": "u", "\u03bc": "u", "\u00b4": "'",
    "\u2500": "-", "\u2502": "|", "\u251c": "|", "\u2514": "`",
}
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")


def to_ascii(text: str) -> str:
    """Chapter 12: map any text to printable ASCII plus newline, deterministically."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for ch in text:
        if ch == "\n" or " " <= ch <= "~":
            out.append(ch)
        elif ch == "\t":
            out.append("    ")
        elif ch in _ASCII_MAP:
            out.append(_ASCII_MAP[ch])
        elif unicodedata.category(ch).startswith("C"):
            continue  # other control / format characters carry no text
        else:
            plain = "".join(c for c in unicodedata.normalize("NFKD", ch)
                            if not unicodedata.combining(c))
            out.append(plain if plain and all(" " <= c <= "~" for c in plain) else "?")
    return "".join(out)


def normalize(text: str) -> str:
    """Chapter 12: ASCII, no trailing spaces, at most one blank line in a row, no edge blanks."""
    lines = [line.rstrip() for line in to_ascii(text).split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip("\n")


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else "" for line in text.split("\n"))


def _signature(name: str, obj) -> str:
    """``name(params)`` when the signature is known and free of memory addresses."""
    try:
        sig = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return name
    return name if _ADDRESS.search(sig) else name + sig


def _own_doc(obj) -> str | None:
    """The object's own docstring (not inherited), cleaned; None when it has none."""
    doc = getattr(obj, "__doc__", None)
    if not isinstance(doc, str) or not doc.strip():
        return None
    return inspect.cleandoc(doc)


def _class_members(cls):
    """(name, function-like object, kind) for the documented public methods of ``cls``."""
    for name in sorted(vars(cls)):
        if name.startswith("_") and name != "__init__":
            continue
        raw = vars(cls)[name]
        if isinstance(raw, (classmethod, staticmethod)):
            func = raw.__func__
        elif isinstance(raw, property):
            func = raw.fget
        else:
            func = raw
        if not inspect.isfunction(func):
            continue
        doc = _own_doc(raw if isinstance(raw, property) else func)
        if doc is None:
            continue
        label = name if isinstance(raw, property) else _signature(name, func)
        yield label, doc


def module_document(modname: str) -> tuple[str, str]:
    """Chapter 12: the text of one module's docstrings, as one document."""
    module = importlib.import_module(modname)
    title = f'Module "{modname}"'
    parts = [title + "\n" + "*" * len(title)]
    doc = _own_doc(module)
    if doc:
        parts.append(doc)
    for name in sorted(vars(module)):
        obj = vars(module)[name]
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj):
            block = [f"class {modname}.{_signature(name, obj)}"]
            cdoc = _own_doc(obj)
            if cdoc:
                block.append(_indent(cdoc, "   "))
            for label, mdoc in _class_members(obj):
                block.append(_indent(label, "   ") + "\n\n" + _indent(mdoc, "      "))
            if len(block) > 1:
                parts.append("\n\n".join(block))
        elif inspect.isfunction(obj):
            fdoc = _own_doc(obj)
            if fdoc:
                parts.append(f"{modname}.{_signature(name, obj)}\n\n" + _indent(fdoc, "   "))
    return "module:" + modname, "\n\n".join(parts)


def topic_documents() -> list[tuple[str, str]]:
    """Chapter 12: the pydoc help topics, one document each, in sorted order."""
    from pydoc_data.topics import topics
    return [("topic:" + key, topics[key]) for key in sorted(topics)]


def build_documents() -> list[tuple[str, str]]:
    """Chapter 12: every (name, normalized text) document of the corpus, in a fixed order."""
    with warnings.catch_warnings():  # deprecated names (typing.io, ...) warn on access
        warnings.simplefilter("ignore")
        docs = topic_documents() + [module_document(m) for m in sorted(MODULES)]
    docs = [(name, normalize(text)) for name, text in docs]
    return [(name, text) for name, text in docs if text]


def split_documents(docs):
    """Chapter 12: (train, valid) lists: every VALID_EVERY-th document goes to valid."""
    train = [d for i, d in enumerate(docs) if i % VALID_EVERY != VALID_EVERY - 1]
    valid = [d for i, d in enumerate(docs) if i % VALID_EVERY == VALID_EVERY - 1]
    return train, valid


def join_documents(docs) -> str:
    """Chapter 12: one text file's contents, ending with a single newline."""
    return DOC_SEPARATOR.join(text for _, text in docs) + "\n"


def readme_text(train: str, valid: str, n_train: int, n_valid: int) -> str:
    """The data/corpus/README.md that records where the text came from."""
    chars = sorted(set(train) | set(valid))
    version = platform.python_version()
    impl = platform.python_implementation()
    sha = {name: hashlib.sha256(t.encode("ascii")).hexdigest()[:16]
           for name, t in (("train", train), ("valid", valid))}
    return f"""# Text corpus (Chapters 12-13)

English technical prose taken from the documentation that ships with Python itself, used to
pretrain (Chapter 12) and fine-tune (Chapter 13) the course's tiny GPT. Nothing is downloaded;
the files are committed so that every machine trains on exactly the same text.

| file | documents | characters | sha256 (first 16 hex) |
|---|---|---|---|
| `train.txt` | {n_train} | {len(train):,} | `{sha['train']}` |
| `valid.txt` | {n_valid} | {len(valid):,} | `{sha['valid']}` |

- **Source**: `pydoc_data.topics.topics` (the {len(topic_documents())} help topics behind
  `help("assert")` and friends) and the docstrings of {len(MODULES)} pure-Python standard-library
  modules (the list is `MODULES` in `scripts/extract_corpus.py`), extracted from
  {impl} {version}.
- **License**: Python Software Foundation License Agreement (the license of CPython and its
  documentation), see https://docs.python.org/3/license.html.
- **Normalization**: printable ASCII plus newline only (curly quotes, dashes and other
  characters mapped to ASCII deterministically, anything else to `?`), no trailing spaces,
  at most one blank line in a row inside a document.
- **Split**: by document, in a fixed order (help topics sorted by name, then modules sorted
  by name); every {VALID_EVERY}th document goes to `valid.txt`, the rest to `train.txt`.
  Documents are separated by two blank lines (`"\\n\\n\\n"`).
- **Character vocabulary**: {len(chars)} distinct characters (newline plus
  {len(chars) - 1} printable ASCII characters).
- **Regenerate**: `python scripts/extract_corpus.py` (check only: `--check`). Another Python
  version gives slightly different text; keep the committed files unless you mean to change
  the corpus.
- **Load**: `from nnlib.corpus import load_corpus; text = load_corpus("train")`.
"""


def main(argv=None) -> int:
    """Chapter 12: write (or with --check, verify) data/corpus/."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="verify the committed files instead of writing them")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder")
    args = parser.parse_args(argv)

    docs = build_documents()
    train_docs, valid_docs = split_documents(docs)
    train, valid = join_documents(train_docs), join_documents(valid_docs)
    files = {
        "train.txt": train,
        "valid.txt": valid,
        "README.md": readme_text(train, valid, len(train_docs), len(valid_docs)),
    }
    if args.check:
        stale = []
        for name, text in files.items():
            path = args.out / name
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        if stale:
            print(f"out of date (Python {platform.python_version()}): {', '.join(stale)}")
            return 1
        print("data/corpus is up to date")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        # newline="\n" so the files are byte-identical on every operating system
        with open(args.out / name, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    n_chars = len(set(train) | set(valid))
    print(f"train.txt: {len(train_docs)} documents, {len(train):,} characters")
    print(f"valid.txt: {len(valid_docs)} documents, {len(valid):,} characters")
    print(f"character vocabulary: {n_chars}; Python {platform.python_version()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
