"""Chapter 14: export (导出) a model for other runtimes -- safetensors weights and an ONNX graph.

* :func:`save_safetensors` / :func:`load_safetensors`: the *safetensors* format,
  written and read here by hand (no dependency): an 8-byte little-endian header
  length, a JSON header (name -> dtype, shape, byte offsets) and the raw
  little-endian bytes of every array. Like nnlib's own archive it can hold only
  numbers, so loading it never runs code (no pickle). The ``safetensors``
  package (Hugging Face) reads our files, which the chapter proves.
* :func:`to_onnx`: the inference graph of a :class:`~nnlib.models.Sequential`
  (Dense, activations, Flatten, LayerNorm, QuantizedDense) or of a
  :class:`~nnlib.gpt.GPT` (logits for token ids) as an ONNX model, built node by
  node with ``onnx.helper``; :func:`run_onnx` runs it with ``onnxruntime``.
  ``onnx`` and ``onnxruntime`` are optional: they are imported only here, and a
  clear ImportError says how to install them (``pip install onnx onnxruntime``).

Weights keep nnlib's layout: a Dense kernel is (in_features, out_features)
(``torch.nn.Linear.weight`` is its transpose).
"""
from __future__ import annotations

import json
import math
import os
import struct

import numpy as np

from . import functional as F
from .saving.files import atomic_write, parse_json

__all__ = ["save_safetensors", "load_safetensors", "to_onnx", "save_onnx", "run_onnx", "onnx_session", "ONNX_OPSET"]

#: the ONNX opset the graphs use (LayerNormalization needs 17)
ONNX_OPSET = 17
#: ONNX IR version written into the files (read by onnxruntime >= 1.15)
ONNX_IR_VERSION = 9

_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
              "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}
#: largest safetensors header accepted (the format's own reference reader uses 100 MB)
MAX_HEADER_BYTES = 100 * 1024 * 1024


def _st_name(dtype: np.dtype) -> str:
    dtype = np.dtype(dtype)
    for k, v in _ST_DTYPES.items():
        if np.dtype(v) == dtype.newbyteorder("<") or np.dtype(v) == dtype:
            return k
    raise TypeError(f"save_safetensors: dtype {dtype} has no safetensors name; use float, int, uint or bool arrays")


# ---------------------------------------------------------------------- safetensors
def _state_of(obj) -> dict:
    if hasattr(obj, "state_dict"):
        return dict(obj.state_dict())
    if isinstance(obj, dict):
        return {k: np.asarray(getattr(v, "data", v)) for k, v in obj.items()}
    raise TypeError(f"save_safetensors: expected a model or a dict of name -> array, got {type(obj).__name__}")


def save_safetensors(obj, path, metadata: dict | None = None) -> str:
    """Chapter 14: write a model's ``state_dict()`` (or a dict of arrays) as a ``.safetensors`` file.

    ``metadata`` (str -> str) goes into the header's ``__metadata__``. The arrays
    are stored in name order, little-endian, back to back; the header is padded
    with spaces to a multiple of 8 bytes. Written to a temporary file, then renamed.
    """
    arrays = _state_of(obj)
    header, offset, blobs = {}, 0, []
    for name in sorted(arrays):
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ValueError(f"save_safetensors: invalid tensor name {name!r}")
        arr = np.asarray(arrays[name])
        kind = _st_name(arr.dtype)
        data = np.ascontiguousarray(arr, dtype=np.dtype(_ST_DTYPES[kind])).tobytes()
        header[name] = {"dtype": kind, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    if metadata:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("save_safetensors: metadata must map strings to strings")
        header["__metadata__"] = dict(metadata)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    def write(fh):
        fh.write(struct.pack("<Q", len(text)))
        fh.write(text)
        for blob in blobs:
            fh.write(blob)
    return atomic_write(os.fspath(path), write, who="save_safetensors")


#: most tensors in one safetensors header
MAX_TENSORS = 100_000
#: most lists/objects in a safetensors header (each tensor entry has 3)
_MAX_CONTAINERS = 4 * MAX_TENSORS + 16


def _st_header(raw: bytes, path: str) -> dict:
    """The parsed header: a JSON object, no duplicate keys, no NaN, bounded nesting (else ModelFileError)."""
    from .saving.files import ModelFileError

    header = parse_json(raw, path, "the safetensors header", max_containers=_MAX_CONTAINERS)
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: the safetensors header must be a JSON object, got {type(header).__name__}")
    return header


def _st_entry(name: str, info, path: str):
    """(dtype, shape, begin, end) of one header entry, every field checked (else ModelFileError)."""
    from .saving.files import ModelFileError

    def bad(problem):
        return ModelFileError(f"{path}: tensor {name[:80]!r}: {problem}")

    if not name:
        raise ModelFileError(f"{path}: a tensor has an empty name")
    if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
        keys = sorted(info) if isinstance(info, dict) else type(info).__name__
        raise bad(f"expected an object with 'dtype', 'shape' and 'data_offsets', got {str(keys)[:100]}")
    kind = info["dtype"]
    if not isinstance(kind, str) or kind not in _ST_DTYPES:
        raise bad(f"unknown dtype {str(kind)[:40]!r} (known: {sorted(_ST_DTYPES)})")
    shape = info["shape"]
    if not isinstance(shape, list) or len(shape) > 32 or not all(type(n) is int and 0 <= n < 2 ** 62 for n in shape):
        raise bad(f"shape must be a list of at most 32 integers >= 0, got {str(shape)[:100]}")
    offsets = info["data_offsets"]
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(type(v) is int and 0 <= v < 2 ** 63
                                                                      for v in offsets):
        raise bad(f"data_offsets must be [begin, end] (integers >= 0), got {str(offsets)[:100]}")
    begin, end = offsets
    dtype = np.dtype(_ST_DTYPES[kind])
    nbytes = math.prod(shape) * dtype.itemsize
    if end < begin or end - begin != nbytes:
        raise bad(f"shape {tuple(shape)} of {kind} needs {nbytes:,} bytes, data_offsets [{begin}, {end}) hold "
                  f"{max(end - begin, 0):,}")
    return dtype, tuple(shape), begin, end


def load_safetensors(path, max_bytes: int | None = None) -> tuple:
    """Chapter 14: read a ``.safetensors`` file: ``(arrays, metadata)`` (name -> ndarray, str -> str).

    Hardened like :func:`nnlib.models.load_model`: only a regular file (opened without
    blocking, so a FIFO is refused at once; no device or folder) of at most ``max_bytes``
    (default :data:`nnlib.saving.archive.MAX_FILE_BYTES`); the header at most
    :data:`MAX_HEADER_BYTES`, strict JSON (no duplicate keys, no NaN, bounded nesting);
    ``__metadata__`` maps strings to strings; every tensor has a known dtype, a shape of
    integers and ``data_offsets`` that hold exactly its bytes; the tensors tile the data
    with no gap, overlap or trailing byte. All of that is checked before any array is
    allocated, and an array is only allocated for bytes the file holds. Anything wrong
    raises :class:`nnlib.saving.files.ModelFileError` naming the path and the problem; nothing in
    the file is executed.
    """
    from .saving.archive import MAX_FILE_BYTES
    from .saving.files import ModelFileError, open_regular_file

    path = os.fspath(path)
    limit = MAX_FILE_BYTES if max_bytes is None else int(max_bytes)
    with open_regular_file(path, limit, ModelFileError, "safetensors file") as fh:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(8)
        if len(head) < 8:
            raise ModelFileError(f"{path}: {len(head)} bytes, too short to be a safetensors file (it starts with "
                                 "an 8-byte header length)")
        n = struct.unpack("<Q", head)[0]
        if n > MAX_HEADER_BYTES or n > size - 8:
            raise ModelFileError(f"{path}: header length {n:,} is larger than the file ({size:,} bytes) or the "
                                 f"{MAX_HEADER_BYTES:,} allowed; not a safetensors file, or a truncated one")
        raw = fh.read(n)
        if len(raw) != n:
            raise ModelFileError(f"{path}: the file is truncated inside its header")
        header = _st_header(raw, path)
        metadata = header.pop("__metadata__", None)
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise ModelFileError(f"{path}: __metadata__ must be an object of string -> string, got "
                                 f"{str(metadata)[:100]}")
        if len(header) > MAX_TENSORS:
            raise ModelFileError(f"{path}: {len(header):,} tensors, more than the {MAX_TENSORS:,} allowed")
        data_size = size - 8 - n
        entries = {name: _st_entry(name, info, path) for name, info in header.items()}
        pos = 0
        for name, (_, _, begin, end) in sorted(entries.items(), key=lambda kv: (kv[1][2], kv[1][3])):
            if begin != pos:
                what = "overlaps the tensor before it" if begin < pos else f"leaves a gap of {begin - pos:,} bytes"
                raise ModelFileError(f"{path}: tensor {name[:80]!r} at bytes [{begin}, {end}) {what}")
            pos = end
        if pos != data_size:
            what = "the file is truncated" if pos > data_size else f"{data_size - pos:,} bytes after the last tensor"
            raise ModelFileError(f"{path}: the tensors need {pos:,} bytes of data, the file holds {data_size:,}: "
                                 f"{what}")
        arrays = {}
        for name, (dtype, shape, begin, end) in entries.items():
            flat = np.empty(math.prod(shape), dtype=dtype)
            fh.seek(8 + n + begin)
            got = fh.readinto(memoryview(flat).cast("B")) if end > begin else 0
            if got != end - begin:
                raise ModelFileError(f"{path}: tensor {name[:80]!r} is truncated (the file changed while read?)")
            arrays[name] = flat.reshape(shape).astype(dtype.newbyteorder("="), copy=False)
    return arrays, dict(metadata)


# ---------------------------------------------------------------------- ONNX
def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"nnlib.export needs the optional package {module.split('.')[0]!r} (chapter 14): "
                          f"pip install onnx onnxruntime  (or pip install -r requirements.txt)") from None


class _GraphBuilder:
    """Collects ONNX nodes and initializers; every node output gets a fresh name."""

    def __init__(self):
        self.onnx = _require("onnx")
        self.helper = self.onnx.helper
        self.numpy_helper = _require("onnx.numpy_helper")
        self.nodes, self.inits, self._count, self._names = [], [], 0, set()

    def const(self, name: str, array) -> str:
        """An initializer (a stored weight or constant); returns its name."""
        if name in self._names:
            raise ValueError(f"duplicate initializer {name!r}")
        self._names.add(name)
        self.inits.append(self.numpy_helper.from_array(np.asarray(array), name=name))
        return name

    def op(self, op_type: str, *inputs: str, n_out: int = 1, **attrs):
        """Add a node; returns its output name (or a list of names if ``n_out > 1``)."""
        self._count += 1
        outs = [f"{op_type.lower()}_{self._count}" + (f"_{i}" if n_out > 1 else "") for i in range(n_out)]
        self.nodes.append(self.helper.make_node(op_type, list(inputs), outs, name=f"{op_type}_{self._count}",
                                                **attrs))
        return outs[0] if n_out == 1 else outs

    def model(self, name: str, inputs, outputs, doc: str):
        graph = self.helper.make_graph(self.nodes, name, inputs, outputs, initializer=self.inits)
        model = self.helper.make_model(graph, producer_name="nnlib", doc_string=doc,
                                       opset_imports=[self.helper.make_opsetid("", ONNX_OPSET)])
        model.ir_version = ONNX_IR_VERSION
        self.onnx.checker.check_model(model)
        return model


def _gelu_tanh(g: _GraphBuilder, u: str) -> str:
    """GELU's tanh form (the GPT block's) from basic ops: 0.5 u (1 + tanh(C (u + A u^3))), with
    nnlib.functional's constants C = sqrt(2/pi) and A = 0.044715."""
    c = g.const(f"gelu_c_{g._count}", np.float32(F.GELU_TANH_C))
    a = g.const(f"gelu_a_{g._count}", np.float32(F.GELU_TANH_A))
    half = g.const(f"gelu_half_{g._count}", np.float32(0.5))
    one = g.const(f"gelu_one_{g._count}", np.float32(1.0))
    u3 = g.op("Mul", g.op("Mul", u, u), u)
    inner = g.op("Mul", c, g.op("Add", u, g.op("Mul", a, u3)))
    return g.op("Mul", g.op("Mul", half, u), g.op("Add", one, g.op("Tanh", inner)))


def _gelu_exact(g: _GraphBuilder, u: str) -> str:
    """Exact GELU (``F.gelu``'s default, ``activation="gelu"``) from basic ops: 0.5 u (1 + erf(u / sqrt(2)))."""
    r = g.const(f"gelu_rsqrt2_{g._count}", np.float32(math.sqrt(0.5)))
    half = g.const(f"gelu_half_{g._count}", np.float32(0.5))
    one = g.const(f"gelu_one_{g._count}", np.float32(1.0))
    return g.op("Mul", g.op("Mul", half, u), g.op("Add", one, g.op("Erf", g.op("Mul", u, r))))


def _activation(g: _GraphBuilder, name, x: str, where: str) -> str:
    if name in (None, "linear"):
        return x
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh"}
    if name in simple:
        return g.op(simple[name], x)
    if name == "softmax":
        return g.op("Softmax", x, axis=-1)
    if name == "leaky_relu":
        return g.op("LeakyRelu", x, alpha=0.01)
    if name == "gelu":
        return _gelu_exact(g, x)
    raise NotImplementedError(f"to_onnx: {where}: activation {name!r} has no ONNX translation")


def _weight(g: _GraphBuilder, layer, prefix: str, extra_scale: float = 1.0) -> str:
    """The float kernel of a Dense (an initializer) or a QuantizedDense (int8 codes -> DequantizeLinear)."""
    from .quantize import QuantizedDense

    if isinstance(layer, QuantizedDense):
        q = g.const(f"{prefix}.kernel_q", layer.kernel_q)
        s = g.const(f"{prefix}.kernel_scale", (layer.kernel_scale * np.float32(extra_scale)).astype(np.float32))
        return g.op("DequantizeLinear", q, s, axis=1)
    w = layer.kernel.data
    return g.const(f"{prefix}.kernel", (w * np.asarray(extra_scale, w.dtype)) if extra_scale != 1.0 else w)


def _dense(g: _GraphBuilder, layer, x: str, prefix: str, activation: bool = True) -> str:
    from .layers.core import Dense
    from .quantize import QuantizedDense

    if type(layer) not in (Dense, QuantizedDense):
        raise NotImplementedError(f"to_onnx: layer {prefix!r} ({type(layer).__name__}) is not a plain Dense layer; "
                                  f"merge LoRA adapters first (nnlib.lora.merge_lora)")
    y = g.op("MatMul", x, _weight(g, layer, prefix))
    if layer.bias is not None:
        y = g.op("Add", y, g.const(f"{prefix}.bias", layer.bias.data))
    return _activation(g, layer.activation_name, y, prefix) if activation else y


def _layer_norm(g: _GraphBuilder, ln, x: str, prefix: str) -> str:
    d = ln.normalized_shape
    dtype = ln.dtype
    gamma = ln.gamma.data if ln.gamma is not None else np.ones(d, dtype)
    beta = ln.beta.data if ln.beta is not None else np.zeros(d, dtype)
    return g.op("LayerNormalization", x, g.const(f"{prefix}.gamma", gamma), g.const(f"{prefix}.beta", beta),
                axis=-1, epsilon=float(ln.eps))


def _sequential_to_onnx(model):
    from .layers.core import Activation, Dense, Dropout, Flatten, GaussianNoise
    from .layers.sequence import LayerNorm
    from .quantize import QuantizedDense

    if not model.built:
        raise ValueError("to_onnx: build the model first (call it once, fit it, or model.build((None, n)))")
    dtype = model.model_dtype
    if dtype != np.float32:
        raise TypeError(f"to_onnx: export float32 models (this one is {dtype})")
    g = _GraphBuilder()
    x = "input"
    for i, layer in enumerate(model.layers):
        prefix = f"layers.{i}"
        if type(layer) in (Dense, QuantizedDense):
            x = _dense(g, layer, x, prefix)
        elif type(layer) is Activation:
            x = _activation(g, layer.activation_name, x, prefix)
        elif type(layer) is Flatten:
            x = g.op("Flatten", x, axis=1)
        elif type(layer) in (Dropout, GaussianNoise):
            continue  # identity at inference
        elif type(layer) is LayerNorm:
            x = _layer_norm(g, layer, x, prefix)
        else:
            raise NotImplementedError(f"to_onnx: layer {layer.name!r} ({type(layer).__name__}) has no ONNX "
                                      f"translation yet")
    x = g.op("Identity", x)
    g.nodes[-1].output[0] = "output"
    h = g.helper
    in_shape = ["batch"] + [int(n) for n in model.input_shape[1:]]
    out_shape = ["batch"] + [None if n is None else int(n) for n in model.output_shape[1:]]
    return g.model(model.name, [h.make_tensor_value_info("input", g.onnx.TensorProto.FLOAT, in_shape)],
                   [h.make_tensor_value_info("output", g.onnx.TensorProto.FLOAT, out_shape)],
                   "nnlib Sequential, exported by nnlib.export.to_onnx (chapter 14)")


def _gpt_to_onnx(model, seq_len=None):
    from .layers.core import Dense

    c = model.config
    if model.wte.embeddings.dtype != np.float32:
        raise TypeError("to_onnx: export float32 models")
    if seq_len is not None:
        if isinstance(seq_len, bool) or not isinstance(seq_len, (int, np.integer)):
            raise TypeError(f"to_onnx: seq_len must be an integer (or None for any length), got {seq_len!r}")
        if not 1 <= int(seq_len) <= c.context_length:
            raise ValueError(f"to_onnx: seq_len must be in 1..{c.context_length}, got {seq_len}")
    g = _GraphBuilder()
    d, h = c.d_model, c.n_heads
    hd = d // h
    ids = "input_ids"
    wte = g.const("wte.embeddings", model.wte.embeddings.data)
    wpe = g.const("wpe.embeddings", model.wpe.embeddings.data)
    zero = g.const("zero_1d", np.array([0], np.int64))
    t1 = g.op("Shape", ids, start=1, end=2)                                   # [T]
    pos = g.op("Slice", wpe, zero, t1, zero)                                  # wpe[:T]  (T, d)
    x = g.op("Add", g.op("Gather", wte, ids, axis=0), pos)                    # (B, T, d)
    mask_full = np.where(np.arange(c.context_length)[None, :] > np.arange(c.context_length)[:, None],
                         -np.inf, 0.0).astype(np.float32)
    mask = g.op("Slice", g.const("causal_mask", mask_full), g.const("zeros_2", np.array([0, 0], np.int64)),
                g.op("Concat", t1, t1, axis=0), g.const("axes_01", np.array([0, 1], np.int64)))  # (T, T)
    split_shape = g.const("qkv_shape", np.array([0, 0, 3, h, hd], np.int64))
    merge_shape = g.const("merge_shape", np.array([0, 0, d], np.int64))
    picks = [g.const(f"pick_{i}", np.array(i, np.int64)) for i in range(3)]
    scale = 1.0 / math.sqrt(hd)
    for i, block in enumerate(model.blocks):
        p = f"blocks.{i}"
        att = block.attn
        a = _layer_norm(g, block.ln1, x, f"{p}.ln1")
        projs = (att.q_proj, att.k_proj, att.v_proj)
        if all(type(pr) is Dense for pr in projs):  # one fused (d, 3d) kernel, 1/sqrt(hd) folded into q
            w = np.concatenate([pr.kernel.data for pr in projs], axis=1)
            w[:, :d] *= np.float32(scale)
            wqkv = g.const(f"{p}.attn.qkv_kernel", w)
        else:
            wqkv = g.op("Concat", *[_weight(g, pr, f"{p}.attn.{n}_proj", scale if n == "q" else 1.0)
                                    for pr, n in zip(projs, "qkv")], axis=1)
        qkv = g.op("MatMul", a, wqkv)
        if att.use_bias:
            bias = np.concatenate([pr.bias.data for pr in projs])
            bias[:d] *= np.float32(scale)
            qkv = g.op("Add", qkv, g.const(f"{p}.attn.qkv_bias", bias))
        heads = g.op("Transpose", g.op("Reshape", qkv, split_shape), perm=[2, 0, 3, 1, 4])  # (3, B, H, T, hd)
        q, k, v = (g.op("Gather", heads, pick, axis=0) for pick in picks)
        scores = g.op("Add", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2])), mask)  # (B, H, T, T)
        attn = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)                              # (B, H, T, hd)
        merged = g.op("Reshape", g.op("Transpose", attn, perm=[0, 2, 1, 3]), merge_shape)     # (B, T, d)
        x = g.op("Add", x, _dense(g, att.out_proj, merged, f"{p}.attn.out_proj"))
        m = _layer_norm(g, block.ln2, x, f"{p}.ln2")
        m = _gelu_tanh(g, _dense(g, block.mlp_in, m, f"{p}.mlp_in", activation=False))
        x = g.op("Add", x, _dense(g, block.mlp_out, m, f"{p}.mlp_out", activation=False))
    x = _layer_norm(g, model.ln_f, x, "ln_f")
    if c.tie_weights:
        logits = g.op("MatMul", x, g.op("Transpose", wte, perm=[1, 0]))  # the head reuses the embedding table
    else:
        logits = _dense(g, model.lm_head, x, "lm_head", activation=False)
    g.op("Identity", logits)
    g.nodes[-1].output[0] = "logits"
    hp = g.helper
    t = "sequence" if seq_len is None else int(seq_len)
    return g.model("gpt", [hp.make_tensor_value_info("input_ids", g.onnx.TensorProto.INT64, ["batch", t])],
                   [hp.make_tensor_value_info("logits", g.onnx.TensorProto.FLOAT, ["batch", t, c.vocab_size])],
                   f"nnlib GPT {c.to_dict()}, exported by nnlib.export.to_onnx (chapter 14)")


def to_onnx(model, seq_len: int | None = None):
    """Chapter 14: the inference graph of ``model`` as an ``onnx.ModelProto`` (checked by ``onnx.checker``).

    - A Sequential: input ``"input"`` float32 (batch, features...), output ``"output"``.
    - A GPT: input ``"input_ids"`` int64 (batch, T), output ``"logits"`` float32
      (batch, T, vocab). ``T`` is dynamic (any length up to ``context_length``)
      unless ``seq_len`` fixes it.

    Dropout is left out (inference); a :class:`~nnlib.quantize.QuantizedDense`
    keeps its int8 codes and becomes ``DequantizeLinear`` + ``MatMul``.
    """
    from .gpt import GPT
    from .models.sequential import Sequential

    if not isinstance(model, (GPT, Sequential)):
        raise TypeError(f"to_onnx: expected a Sequential or a GPT, got {type(model).__name__}")
    for name, module in model.named_modules():  # the graph reads plain kernels: an adapter would be dropped
        if type(module).__name__ == "LoRADense":
            raise ValueError(f"to_onnx: the model has LoRA adapters ({name or 'the model'}); the export would "
                             "silently leave them out. Fold them into the weights first with "
                             "nnlib.lora.merge_lora(model) and export that")
    if isinstance(model, GPT):
        return _gpt_to_onnx(model, seq_len)
    if isinstance(model, Sequential):
        if seq_len is not None:
            raise ValueError("to_onnx: seq_len is for a GPT only")
        return _sequential_to_onnx(model)
    raise TypeError(f"to_onnx: expected a Sequential or a GPT, got {type(model).__name__}")


def save_onnx(model, path, seq_len: int | None = None) -> str:
    """Chapter 14: :func:`to_onnx` written to ``path`` (temporary file, then rename); returns the path."""
    if hasattr(model, "SerializeToString"):
        if seq_len is not None:
            raise ValueError("save_onnx: seq_len is for exporting a model, not for an already built ONNX graph")
        proto = model
    else:
        proto = to_onnx(model, seq_len)
    data = proto.SerializeToString()
    return atomic_write(os.fspath(path), lambda fh: fh.write(data), who="save_onnx")


def onnx_session(model, optimize: str = "basic"):
    """Chapter 14: an ``onnxruntime.InferenceSession`` on the CPU for a ModelProto, bytes or a path.

    ``optimize``: ``"none"``, ``"basic"`` (default: constant folding and other
    rewrites that keep the arithmetic) or ``"all"`` (also fusions; onnxruntime then
    turns ``DequantizeLinear`` + ``MatMul`` into an int8 kernel that quantizes the
    activations too, so a quantized model's outputs move by about 1e-3).
    """
    ort = _require("onnxruntime")
    levels = {"none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}
    if optimize not in levels:
        raise ValueError(f"onnx_session: optimize must be one of {sorted(levels)}, got {optimize!r}")
    if hasattr(model, "SerializeToString"):
        model = model.SerializeToString()
    elif not isinstance(model, bytes):
        model = os.fspath(model)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = levels[optimize]
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def run_onnx(model, inputs, optimize: str = "basic"):
    """Chapter 14: run an ONNX model (a ModelProto, bytes, a path or a session) with onnxruntime on the CPU.

    ``inputs`` is one array (for a one-input graph) or a dict name -> array.
    Returns the first output as a NumPy array. ``optimize``: see :func:`onnx_session`.
    """
    session = model if hasattr(model, "run") and hasattr(model, "get_inputs") else onnx_session(model, optimize)
    if not isinstance(inputs, dict):
        inputs = {session.get_inputs()[0].name: inputs}
    return session.run(None, inputs)[0]
