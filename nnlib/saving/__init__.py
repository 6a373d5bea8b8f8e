"""Chapters 07 and 14: persistence, everything that writes or reads nnlib's files (like Keras's ``saving``).

One job per module:

* :mod:`nnlib.saving.files`: the file utilities every reader and writer uses:
  ``atomic_write``, ``open_regular_file``, ``read_regular_file``, the one strict JSON reader
  ``parse_json`` / ``read_json``, and ``ModelFileError``;
* :mod:`nnlib.saving.archive`: the archive, nnlib's one model file format (a zip of JSON
  and ``.npz`` members): ``save_archive`` / ``load_archive``;
* :mod:`nnlib.saving.model_file`: ``save_model`` / ``load_model`` / ``save_weights`` /
  ``load_weights`` for every registered model, compile settings and optimizer state
  included (learners call them from :mod:`nnlib.models`);
* :mod:`nnlib.saving.registry`: ``register_layer`` / ``register_model``, the only classes
  a file may name;
* :mod:`nnlib.saving.config`: ``strict_kwargs`` / ``layers_from_config``, a file's
  constructor arguments checked before anything is built.

Loading never unpickles or runs code from a file; saving never leaves a half-written one.
(``nnlib.saving.model_file`` is imported by :mod:`nnlib.models`, not here: it needs the
layers and models, which themselves use this package.)
"""
from .files import (MAX_JSON_CONTAINERS, ModelFileError, atomic_write, file_error, open_regular_file, parse_json,
                    read_json, read_regular_file, remove_stale_temp_files)
from .archive import (FORMAT_NAME, FORMAT_VERSION, MAX_ARRAY_BYTES, MAX_FILE_BYTES, MAX_JSON_BYTES, Archive,
                      load_archive, save_archive)
from .registry import register_layer, register_model, registered_layers, registered_models
from .config import layers_from_config, strict_kwargs

__all__ = [
    "ModelFileError", "file_error", "atomic_write", "remove_stale_temp_files", "open_regular_file",
    "read_regular_file", "parse_json", "read_json", "MAX_JSON_CONTAINERS",
    "Archive", "save_archive", "load_archive", "FORMAT_NAME", "FORMAT_VERSION", "MAX_JSON_BYTES",
    "MAX_ARRAY_BYTES", "MAX_FILE_BYTES",
    "register_layer", "registered_layers", "register_model", "registered_models",
    "layers_from_config", "strict_kwargs",
]
