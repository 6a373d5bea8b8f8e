"""Chapter 16: convolution (卷积) and pooling (池化), vectorized with im2col.

A 2-D convolution slides a small kernel over an image and takes, at every position,
the dot product of the kernel with the patch under it. Written as loops that is six
nested loops; written for NumPy it is one matrix product:

1. **im2col**: list every patch as one column of a matrix ``cols_t`` of shape
   (kh*kw*C, N*H_out*W_out): row (i, j, c) holds channel c of every patch at kernel
   offset (i, j), copied from the (padded) input as whole image rows (kh*kw*C strided
   copies, never a loop over pixels or images). A last row of ones multiplies the bias.
2. ``cols_t.T @ kernel`` with the kernel reshaped to (kh*kw*C [+ bias row], out_channels)
   gives every output pixel of every image at once, bias included (one BLAS call).
3. Backward: ``cols_t @ dout`` gives the kernel's gradient and, in its last row, the
   bias's; **col2im** adds ``dout @ kernel[i, j]^T`` back onto the input pixels that
   kernel offset (i, j) touched, one product and one strided add per offset.

Grouped convolutions (``groups``) use the (patch, K) layout, one batched matmul per step.
Max pooling whose windows sit side by side (stride = window) takes the maximum over
each window's columns, then over its rows, remembering the first maximum (torch's
choice on ties) for the backward pass.

The functional API follows ``torch.nn.functional``: inputs NCHW (NCL for 1-D) and
weights (out_channels, in_channels/groups, kh, kw). Internally everything runs
channels-last (NHWC); the Keras-style layers in :mod:`nnlib.layers.conv` call that
core directly with kernels in Keras' layout (kh, kw, in/groups, out), and fuse a ReLU
activation into the convolution. Large work arrays are recycled between calls (see
``_buffer``): a few hundred MB at most are kept per thread.
"""
from __future__ import annotations

import sys
import threading

import numpy as np

from ..engine import Tensor, as_tensor

__all__ = ["conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
           "conv2d_channels_last", "pool2d_channels_last", "conv_output_size", "same_padding",
           "conv_transpose1d", "conv_transpose2d", "conv_transpose_nchw", "interpolate"]


# ----------------------------------------------------------------------------- helpers
def _tuple(value, n: int, name: str, who: str) -> tuple:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),) * n
    try:
        out = tuple(int(v) for v in value)
    except TypeError:
        raise TypeError(f"{who}: {name} must be an int or a tuple of {n} ints, got {value!r}") from None
    if len(out) != n:
        raise ValueError(f"{who}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    return out


def conv_output_size(size: int, kernel: int, stride: int, dilation: int, pad_total: int) -> int:
    """Chapter 16: output length along one axis, floor((size + pad - dilation*(kernel-1) - 1) / stride) + 1."""
    return (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


def same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple:
    """Chapter 16: (before, after) padding for 'same' output ceil(size / stride), the extra pixel after.

    With stride 1 this is torch's ``padding='same'``; with larger strides it is
    Keras/TensorFlow's rule.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def _windows(xp: np.ndarray, kernel, stride, dilation, out_hw) -> np.ndarray:
    """A read-only strided view (N, H_out, W_out, kh, kw, C) of every patch of NHWC ``xp``."""
    n, _, _, c = xp.shape
    s_n, s_h, s_w, s_c = xp.strides
    return np.lib.stride_tricks.as_strided(
        xp, shape=(n, out_hw[0], out_hw[1], kernel[0], kernel[1], c),
        strides=(s_n, s_h * stride[0], s_w * stride[1], s_h * dilation[0], s_w * dilation[1], s_c),
        writeable=False)


def _offset_slice(i: int, j: int, stride, dilation, out_hw) -> tuple:
    """The index of the input pixels that kernel offset (i, j) touches, for every output pixel."""
    h0, w0 = i * dilation[0], j * dilation[1]
    return (slice(None), slice(h0, h0 + stride[0] * (out_hw[0] - 1) + 1, stride[0]),
            slice(w0, w0 + stride[1] * (out_hw[1] - 1) + 1, stride[1]))


# ------------------------------------------------------------------ recycled buffers
# A training step allocates the same large arrays (patch matrices, outputs, gradients)
# every time. Fresh ones cost page faults (the allocator hands big blocks back to the
# OS), several milliseconds per step; torch avoids this with a caching allocator. Here
# each thread keeps the arrays it allocated and hands one out again once nothing else
# refers to it (its reference count shows only this list): an array still held by a
# graph, a Tensor or a view is never reused.
_BUFFERS = threading.local()
_BUFFER_BYTES = 256 * 2 ** 20  # at most this much kept per thread
_PER_SHAPE = 4


def _buffer(shape, dtype) -> np.ndarray:
    """An uninitialized array (like ``np.empty``), recycled from an earlier step when one is free."""
    try:
        pool = _BUFFERS.pool
    except AttributeError:
        pool = _BUFFERS.pool = {}
        _BUFFERS.nbytes = 0
    key = (shape, dtype)
    kept = pool.get(key)
    if kept is None:
        kept = pool[key] = []
    for arr in kept:
        if sys.getrefcount(arr) == 3:  # only the list, this loop and getrefcount's argument refer to it
            return arr
    arr = np.empty(shape, dtype)
    if len(kept) < _PER_SHAPE and arr.nbytes >= 65536:
        if _BUFFERS.nbytes + arr.nbytes > _BUFFER_BYTES:  # shapes changed a lot: start over
            pool.clear()
            _BUFFERS.nbytes = 0
            kept = pool[key] = []
        kept.append(arr)
        _BUFFERS.nbytes += arr.nbytes
    return arr


def _zeros(shape, dtype) -> np.ndarray:
    arr = _buffer(shape, dtype)
    arr.fill(0)
    return arr


def _pad(x: np.ndarray, pads, value=0.0) -> np.ndarray:
    """NHWC ``x`` padded on the two spatial axes (``x`` itself, no copy, when every padding is 0)."""
    (pt, pb), (pl, pr) = pads
    if not (pt or pb or pl or pr):
        return x
    n, h, w, c = x.shape
    xp = _buffer((n, h + pt + pb, w + pl + pr, c), x.dtype)
    xp.fill(value)  # one fill and one copy: cheaper than np.pad's general machinery
    xp[:, pt:pt + h, pl:pl + w, :] = x
    return xp


# ------------------------------------------------------------------- convolution core
def _conv_forward(x, w, b, stride, dilation, pads, groups, keep_cols: bool, relu: bool = False):
    """NHWC ``x``, kernel ``w`` (kh, kw, C/groups, O) -> (NHWC output, saved state for backward).

    ``relu``: apply max(0, .) in place on the result (the layers' fused activation).
    """
    n, h, wd, c = x.shape
    kh, kw, cg, o = w.shape
    (pt, pb), (pl, pr) = pads
    xp_shape = (n, h + pt + pb, wd + pl + pr, c)
    # ungrouped with several channels: the padded input is built channels-first below, directly
    xp = None if groups == 1 and c > 1 else _pad(x, pads)
    out_hw = (conv_output_size(h, kh, stride[0], dilation[0], sum(pads[0])),
              conv_output_size(wd, kw, stride[1], dilation[1], sum(pads[1])))
    m, k = n * out_hw[0] * out_hw[1], kh * kw * cg
    cols = cols_t = None
    if groups == 1:
        # the patch matrix transposed, (K [+ 1], M): row (i, j, c) holds channel c of every
        # patch at kernel offset (i, j), copied as whole image rows (kh*kw*C strided copies),
        # and the products run faster with this operand than with its transpose. A row of
        # ones multiplies the bias: the one product also adds the bias, and the weight-
        # gradient product also sums the bias gradient.
        if c == 1:
            xc = xp.reshape(1, n, xp_shape[1], xp_shape[2])
        else:  # (C, N, H + pads, W + pads): the transposed copy and the padding in one pass
            xc = _buffer((c, n, xp_shape[1], xp_shape[2]), x.dtype)
            if pt or pb or pl or pr:
                xc.fill(0)
            xc[:, :, pt:pt + h, pl:pl + wd] = x.transpose(3, 0, 1, 2)
        cols_t = _buffer((k + (b is not None), n, out_hw[0], out_hw[1]), x.dtype)
        for i in range(kh):
            for j in range(kw):
                r = (i * kw + j) * cg
                cols_t[r:r + cg] = xc[(slice(None),) + _offset_slice(i, j, stride, dilation, out_hw)]
        del xc
        w2 = w.reshape(k, o)
        if b is not None:
            cols_t[k] = 1
            w2 = np.concatenate([w2, b.reshape(1, o)])
        cols_t = cols_t.reshape(-1, m)
        out = np.matmul(cols_t.T, w2, out=_buffer((m, o), x.dtype))
    else:
        win = _windows(xp, (kh, kw), stride, dilation, out_hw)
        og = o // groups
        win7 = win.reshape(n, out_hw[0], out_hw[1], kh, kw, groups, cg)
        cols = np.ascontiguousarray(win7.transpose(5, 0, 1, 2, 3, 4, 6)).reshape(groups, m, k)
        w2 = w.reshape(k, groups, og).transpose(1, 0, 2)  # (G, K, Og)
        out = np.matmul(cols, w2).transpose(1, 0, 2).reshape(m, o)
        if b is not None:
            out += b
    if relu:
        np.maximum(out, 0, out=out)
    out = out.reshape(n, out_hw[0], out_hw[1], o)
    saved = dict(xshape=x.shape, xp_shape=xp_shape, pads=pads, out_hw=out_hw, stride=stride, dilation=dilation,
                 groups=groups, w=w, wshape=w.shape, cols=cols if keep_cols else None,
                 cols_t=cols_t if keep_cols else None, relu_out=out if relu else None)
    return out, saved


def _conv_backward(g, s, need_x: bool, need_w: bool, need_b: bool):
    """Gradients (dx NHWC, dw (kh, kw, C/groups, O), db) for the NHWC upstream gradient ``g``."""
    n, h, wd, c = s["xshape"]
    kh, kw, cg, o = s["wshape"]
    groups, out_hw = s["groups"], s["out_hw"]
    m = n * out_hw[0] * out_hw[1]
    if s["relu_out"] is not None:  # the fused ReLU: the gradient passes where the output is positive
        positive = np.greater(s["relu_out"], 0, out=_buffer(g.shape, bool))
        g = np.multiply(g, positive, out=_buffer(g.shape, g.dtype))
        del positive
    g2 = g.reshape(m, o)
    dw = db = dx = None
    if groups == 1:
        k = kh * kw * cg
        if need_w or need_b:
            dwb = s["cols_t"] @ g2  # (K [+ 1], O): the last row, against the ones, is the bias gradient
            dw = dwb[:k].reshape(kh, kw, cg, o) if need_w else None
            if need_b:
                db = dwb[k]
        if need_x:  # one (M, O) @ (O, C) product per kernel offset, added straight into place
            dxp = _zeros(s["xp_shape"], g.dtype)
            w_t = s["w"].transpose(0, 1, 3, 2)
            part = _buffer((m, c), g.dtype)
            for i in range(kh):
                for j in range(kw):
                    np.matmul(g2, w_t[i, j], out=part)
                    dxp[_offset_slice(i, j, s["stride"], s["dilation"], out_hw)] += \
                        part.reshape(n, out_hw[0], out_hw[1], c)
            del part
            (pt, _), (pl, _) = s["pads"]
            dx = dxp[:, pt:pt + h, pl:pl + wd, :]
    else:
        og = o // groups
        db = g2.sum(axis=0) if need_b else None
        gg = g2.reshape(m, groups, og).transpose(1, 0, 2)  # (G, M, Og)
        if need_w:
            dw = np.matmul(s["cols"].transpose(0, 2, 1), gg).transpose(1, 0, 2).reshape(kh, kw, cg, o)
        if need_x:
            w2 = s["w"].reshape(kh * kw * cg, groups, og).transpose(1, 0, 2)
            dcols = np.matmul(gg, w2.transpose(0, 2, 1))  # (G, M, K)
            dcols = dcols.reshape(groups, n, out_hw[0], out_hw[1], kh, kw, cg).transpose(1, 2, 3, 4, 5, 0, 6)
            dxp = np.zeros(s["xp_shape"], dtype=g.dtype)
            per_group = dxp.reshape(dxp.shape[:3] + (groups, cg))
            for i in range(kh):
                for j in range(kw):
                    per_group[_offset_slice(i, j, s["stride"], s["dilation"], out_hw)] += dcols[:, :, :, i, j]
            (pt, _), (pl, _) = s["pads"]
            dx = dxp[:, pt:pt + h, pl:pl + wd, :]
    return dx, dw, db


def conv2d_channels_last(x, kernel, bias=None, strides=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1),
                         groups: int = 1, who: str = "conv2d", relu: bool = False) -> Tensor:
    """Chapter 16: 2-D convolution of NHWC ``x`` with a Keras-layout ``kernel`` (kh, kw, C/groups, out).

    The core the layers use; ``pads`` are explicit ((top, bottom), (left, right)).
    ``relu=True`` returns ``relu(conv)`` as one operation (no separate activation array).
    """
    x, kernel = as_tensor(x), as_tensor(kernel)
    bias = None if bias is None else as_tensor(bias)
    xd, wd = x.data, kernel.data
    if xd.ndim != 4:
        raise ValueError(f"{who}: expected a 4-D input (batch, height, width, channels), got shape {xd.shape}")
    if wd.ndim != 4:
        raise ValueError(f"{who}: expected a 4-D kernel (kh, kw, in_channels/groups, out), got shape {wd.shape}")
    _check_groups(xd.shape[3], wd.shape[2], wd.shape[3], groups, who, xd.shape, "channels on the last axis")
    dtype = np.result_type(xd.dtype, wd.dtype)
    xd, wd = xd.astype(dtype, copy=False), wd.astype(dtype, copy=False)
    bd = None
    if bias is not None:
        if bias.shape != (wd.shape[3],):
            raise ValueError(f"{who}: bias must have shape ({wd.shape[3]},), one value per output channel, "
                             f"got {bias.shape}")
        bd = bias.data.astype(dtype, copy=False)
    _check_output(xd.shape[1:3], wd.shape[:2], strides, dilation, pads, who, xd.shape)
    need_w = kernel.requires_grad or (bias is not None and bias.requires_grad)
    out, saved = _conv_forward(xd, wd, bd, tuple(strides), tuple(dilation), pads, groups,
                               keep_cols=need_w, relu=relu)
    parents = (x, kernel) if bias is None else (x, kernel, bias)

    def backward(g):
        dx, dw, db = _conv_backward(g, saved, x.requires_grad, kernel.requires_grad,
                                    bias is not None and bias.requires_grad)
        return (dx, dw) if bias is None else (dx, dw, db)
    return Tensor.from_op(out, parents, backward)


def _check_groups(c, cg, o, groups, who, xshape, where):
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{who}: groups must be a positive integer, got {groups!r}")
    if c != cg * groups:
        raise ValueError(f"{who}: the input has {c} channels ({where}, shape {xshape}) but the weight expects "
                         f"{cg} per group x {groups} group(s) = {cg * groups}")
    if o % groups:
        raise ValueError(f"{who}: out_channels ({o}) must be divisible by groups ({groups})")


def _check_output(hw, kernel, strides, dilation, pads, who, xshape):
    for axis, size, k, s, d, p in zip(("height", "width"), hw, kernel, strides, dilation, pads):
        if s < 1 or d < 1:
            raise ValueError(f"{who}: stride and dilation must be >= 1, got stride {strides}, dilation {dilation}")
        if conv_output_size(size, k, s, d, sum(p)) < 1:
            raise ValueError(f"{who}: the input's {axis} {size} (padded {size + sum(p)}) is smaller than the kernel's "
                             f"reach {d * (k - 1) + 1} (kernel {k}, dilation {d}); input shape {xshape}")


def _torch_padding(padding, kernel, stride, dilation, who, n=2):
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{who}: padding='same' needs stride 1 (as in torch), got stride {stride}")
            return tuple(same_padding(1, k, 1, d) for k, d in zip(kernel, dilation))
        raise ValueError(f"{who}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
    pads = _tuple(padding, n, "padding", who)
    if any(p < 0 for p in pads):
        raise ValueError(f"{who}: padding must be >= 0, got {padding!r}")
    return tuple((p, p) for p in pads)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """Chapter 16: 2-D convolution as ``torch.nn.functional.conv2d``.

    ``input`` (N, C, H, W), ``weight`` (out_channels, C/groups, kh, kw), ``bias``
    (out_channels,). ``stride``/``dilation``: int or (sh, sw); ``padding``: int,
    (ph, pw), ``'valid'`` or ``'same'`` (stride 1). Returns (N, out_channels, H_out, W_out).
    """
    who = "conv2d"
    x, w = as_tensor(input), as_tensor(weight)
    if x.ndim != 4:
        raise ValueError(f"{who}: expected a 4-D input (N, C, H, W), got shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"{who}: expected a 4-D weight (out_channels, in_channels/groups, kh, kw), got shape "
                         f"{w.shape}")
    stride, dilation = _tuple(stride, 2, "stride", who), _tuple(dilation, 2, "dilation", who)
    pads = _torch_padding(padding, w.shape[2:], stride, dilation, who)
    _check_groups(x.shape[1], w.shape[1], w.shape[0], groups, who, x.shape, "axis 1")
    out = conv2d_channels_last(x.transpose(0, 2, 3, 1), w.transpose(2, 3, 1, 0), bias, stride, pads, dilation,
                               groups, who)
    return out.transpose(0, 3, 1, 2)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """Chapter 16: 1-D convolution as ``torch.nn.functional.conv1d``: input (N, C, L), weight (out, C/groups, k)."""
    who = "conv1d"
    x, w = as_tensor(input), as_tensor(weight)
    if x.ndim != 3:
        raise ValueError(f"{who}: expected a 3-D input (N, C, L), got shape {x.shape}")
    if w.ndim != 3:
        raise ValueError(f"{who}: expected a 3-D weight (out_channels, in_channels/groups, k), got shape {w.shape}")
    stride, dilation = _tuple(stride, 1, "stride", who), _tuple(dilation, 1, "dilation", who)
    (pad,) = _torch_padding(padding, w.shape[2:], stride, dilation, who, n=1)
    _check_groups(x.shape[1], w.shape[1], w.shape[0], groups, who, x.shape, "axis 1")
    # (N, C, L) -> (N, 1, L, C); weight (O, Cg, k) -> (1, k, Cg, O)
    x4 = x.transpose(0, 2, 1).reshape(x.shape[0], 1, x.shape[2], x.shape[1])
    w4 = w.transpose(2, 1, 0).reshape(1, w.shape[2], w.shape[1], w.shape[0])
    out = conv2d_channels_last(x4, w4, bias, (1,) + stride, ((0, 0), pad), (1,) + dilation, groups, who)
    return out.reshape(out.shape[0], out.shape[2], out.shape[3]).transpose(0, 2, 1)


# ------------------------------------------------------------------------------ pooling
def pool2d_channels_last(x, kind: str, kernel, strides, pads=((0, 0), (0, 0)), who: str = "pool2d") -> Tensor:
    """Chapter 16: max (``kind='max'``) or average pooling of NHWC ``x``, one strided pass per kernel offset.

    Max pooling pads with -inf and sends each gradient to the first maximum of its
    window (as torch); average pooling pads with zeros and divides by the full window
    size (torch's ``count_include_pad=True``).
    """
    x = as_tensor(x)
    xd = x.data
    if xd.ndim != 4:
        raise ValueError(f"{who}: expected a 4-D input, got shape {xd.shape}")
    if kind not in ("max", "avg"):
        raise ValueError(f"{who}: kind must be 'max' or 'avg', got {kind!r}")
    kernel, strides = tuple(kernel), tuple(strides)
    for k, p in zip(kernel, pads):
        if max(p) > k // 2:
            raise ValueError(f"{who}: padding {max(p)} must be at most half the kernel size {k} (as in torch)")
    _check_output(xd.shape[1:3], kernel, strides, (1, 1), pads, who, xd.shape)
    n, h, w, c = xd.shape
    out_hw = (conv_output_size(h, kernel[0], strides[0], 1, sum(pads[0])),
              conv_output_size(w, kernel[1], strides[1], 1, sum(pads[1])))
    xp = _pad(xd, pads, _lowest(xd.dtype) if kind == "max" else 0.0)
    (pt, _), (pl, _) = pads
    if kind == "max" and strides == kernel:
        return _max_pool_tiled(x, xp, kernel, out_hw, (pt, pl))
    offsets = [(i, j) for i in range(kernel[0]) for j in range(kernel[1])]
    sl = [_offset_slice(i, j, strides, (1, 1), out_hw) for i, j in offsets]
    # the windows tile the padded input exactly: every pixel is in one window, so the
    # backward can write each offset's share instead of adding it into zeros
    tiles = out_hw[0] * strides[0] == xp.shape[1] and out_hw[1] * strides[1] == xp.shape[2] and \
        strides[0] == kernel[0] and strides[1] == kernel[1]
    out = xp[sl[0]].copy()
    for s in sl[1:]:
        if kind == "max":
            np.maximum(out, xp[s], out=out)
        else:
            out += xp[s]
    if kind == "avg":
        out *= 1.0 / len(sl)

    def backward(g):
        if tiles:  # every pixel in exactly one window: work on the (N, Ho, kh, Wo, kw, C) view at once
            kh, kw = kernel
            dxp = np.empty(xp.shape, dtype=g.dtype)
            blocks = (n, out_hw[0], kh, out_hw[1], kw, c)
            dxp.reshape(blocks)[...] = g[:, :, None, :, None, :] * (1.0 / len(sl))
        else:
            dxp = np.zeros(xp.shape, dtype=g.dtype)
            if kind == "max":
                taken = None  # the gradient goes to the first maximum of each window, as in torch
                for s in sl:
                    hit = xp[s] == out
                    if taken is None:
                        taken = hit
                    else:
                        hit &= ~taken
                        taken |= hit
                    dxp[s] += g * hit
            else:
                gs = g * (1.0 / len(sl))
                for s in sl:
                    dxp[s] += gs
        return (dxp[:, pt:pt + h, pl:pl + w, :],)
    return Tensor.from_op(out, (x,), backward)


def _lowest(dtype):
    """The padding value of max pooling: -inf for floats, the smallest value of an integer dtype."""
    if dtype.kind == "f":
        return -np.inf
    return np.iinfo(dtype).min if dtype.kind in "iu" else False


def _first_max(parts):
    """Elementwise maximum of the arrays ``parts`` and, per element, the index of the first one holding it.

    The index is uint8 (bool for two parts); a later part wins only when strictly
    greater, so ties go to the earliest part, as torch's max pooling does.
    """
    shape = parts[0].shape
    best = np.maximum(parts[0], parts[1], out=_buffer(shape, parts[0].dtype))
    which = np.greater(parts[1], parts[0], out=_buffer(shape, bool))
    if len(parts) > 2:
        which = which.astype(np.uint8)
        for k, part in enumerate(parts[2:], start=2):
            np.copyto(which, k, where=part > best)
            np.maximum(best, part, out=best)
    return best, which


def _pick(which, k: int):
    """Where ``_first_max`` chose part ``k``."""
    if which.dtype == bool:
        return which if k == 1 else np.logical_not(which, out=_buffer(which.shape, bool))
    return np.equal(which, k, out=_buffer(which.shape, bool))


def _max_pool_tiled(x, xp, kernel, out_hw, offset) -> Tensor:
    """Max pooling when the stride equals the window (windows side by side, none overlapping).

    Two passes over the NHWC data: the maximum within each row of a window (over its
    kw columns), then over the window's kh rows, each remembering which one won (the
    first maximum in raster order, as torch). The row pass works on whole image rows,
    so NumPy's inner loops run over W_out*C values, not C. Backward sends each
    gradient back along the two recorded choices.
    """
    (kh, kw), (ho, wo) = kernel, out_hw
    n, c = xp.shape[0], xp.shape[3]
    hc, wc = ho * kh, wo * kw
    v = xp[:, :hc, :wc, :].reshape(n, hc, wo, kw, c)
    if kw == 1:
        across, col = v[:, :, :, 0, :], None
    else:
        across, col = _first_max([v[:, :, :, j, :] for j in range(kw)])
    rows = across.reshape(n, ho, kh, wo, c)
    if kh == 1:
        out, row = np.array(rows[:, :, 0], copy=True), None
    else:
        out, row = _first_max([rows[:, :, i] for i in range(kh)])
    del across, rows  # a recycled buffer: free for the next call
    (pt, pl), (h, w) = offset, x.shape[1:3]
    xp_shape = xp.shape  # the backward keeps only the choices, not the input

    def backward(g):
        dxp = (_buffer if (hc, wc) == xp_shape[1:3] else _zeros)(xp_shape, g.dtype)
        if row is None:
            g_rows = g.reshape(n, ho, 1, wo, c)
        else:
            g_rows = _buffer((n, ho, kh, wo, c), g.dtype)
            for i in range(kh):
                np.multiply(g, _pick(row, i), out=g_rows[:, :, i])
        g_rows = g_rows.reshape(n, hc, wo, c)
        d = dxp[:, :hc, :wc, :].reshape(n, hc, wo, kw, c)
        if col is None:
            d[:, :, :, 0, :] = g_rows
        else:
            for j in range(kw):
                np.multiply(g_rows, _pick(col, j), out=d[:, :, :, j, :])
        return (dxp[:, pt:pt + h, pl:pl + w, :],)
    return Tensor.from_op(out, (x,), backward)


def _pool_nchw(input, kernel_size, stride, padding, kind, who, n):
    x = as_tensor(input)
    if x.ndim != n + 2:
        layout = "(N, C, H, W)" if n == 2 else "(N, C, L)"
        raise ValueError(f"{who}: expected a {n + 2}-D input {layout}, got shape {x.shape}")
    kernel = _tuple(kernel_size, n, "kernel_size", who)
    strides = kernel if stride is None else _tuple(stride, n, "stride", who)
    pads = tuple((p, p) for p in _tuple(padding, n, "padding", who))
    if n == 1:
        x4 = x.transpose(0, 2, 1).reshape(x.shape[0], 1, x.shape[2], x.shape[1])
        out = pool2d_channels_last(x4, kind, (1,) + kernel, (1,) + strides, ((0, 0),) + pads, who)
        return out.reshape(out.shape[0], out.shape[2], out.shape[3]).transpose(0, 2, 1)
    out = pool2d_channels_last(x.transpose(0, 2, 3, 1), kind, kernel, strides, pads, who)
    return out.transpose(0, 3, 1, 2)


def _pool_output(n, k, s, p, d, ceil_mode):
    """torch's pooled length: floor (or ceil) of (n + 2p - d(k-1) - 1)/s, plus 1; with ``ceil_mode`` the last
    window must start inside the input or its left padding."""
    span = n + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _pool_general(input, kind, kernel_size, stride, padding, dilation, ceil_mode, count_include_pad,
                  return_indices, divisor_override, who, rank):
    """Pooling with torch's options (ceil_mode, dilation, count_include_pad=False, return_indices,
    divisor_override) on (N, C, *spatial), 1-D or 2-D: every window is read as one slice per kernel offset.

    Max pooling sends each gradient to the first maximum of its window (as torch), and its indices are
    positions in the flattened input plane (h * W + w), as torch's ``return_indices``.
    """
    x = as_tensor(input)
    if x.ndim != rank + 2:
        layout = "(N, C, H, W)" if rank == 2 else "(N, C, L)"
        raise ValueError(f"{who}: expected a {rank + 2}-D input {layout}, got shape {x.shape}")
    kernel = _tuple(kernel_size, rank, "kernel_size", who)
    strides = kernel if stride is None or stride == [] else _tuple(stride, rank, "stride", who)
    pads, dil = _tuple(padding, rank, "padding", who), _tuple(dilation, rank, "dilation", who)
    for k, p, s, d in zip(kernel, pads, strides, dil):
        if k < 1 or s < 1 or d < 1:
            raise ValueError(f"{who}: kernel_size, stride and dilation must be >= 1, got {kernel}, {strides}, {dil}")
        if not 0 <= p <= k // 2:
            raise ValueError(f"{who}: padding {p} must be between 0 and half the kernel size {k} (as in torch)")
    spatial = x.shape[2:]
    outs = tuple(_pool_output(n, k, s, p, d, ceil_mode) for n, k, s, p, d in zip(spatial, kernel, strides, pads, dil))
    if any(o < 1 for o in outs):
        raise ValueError(f"{who}: the input {x.shape} is too small for kernel {kernel} (dilation {dil}, "
                         f"padding {pads})")
    # pad: p before, and after enough for the last (ceil-mode) window
    after = [max((o - 1) * s + d * (k - 1) + 1 - n - p, 0) for o, s, d, k, n, p in zip(outs, strides, dil, kernel,
                                                                                    spatial, pads)]
    a = x.data
    fill = _lowest(a.dtype) if kind == "max" else 0
    widths = [(0, 0), (0, 0)] + [(p, e) for p, e in zip(pads, after)]
    xp = np.pad(a, widths, constant_values=fill)
    offsets = list(np.ndindex(*kernel))

    def window(arr, off):
        return arr[(Ellipsis,) + tuple(slice(o * d, o * d + s * (m - 1) + 1, s)
                                       for o, d, s, m in zip(off, dil, strides, outs))]
    stacked = np.stack([window(xp, off) for off in offsets], axis=-1)  # (N, C, *outs, K)
    # the flat position (in the padded plane) that each window element reads, for the backward
    plane = np.arange(int(np.prod(xp.shape[2:]))).reshape(xp.shape[2:])
    where = np.stack([window(plane, off) for off in offsets], axis=-1)  # (*outs, K)
    if kind == "max":
        choice = np.argmax(stacked, axis=-1)  # the first maximum, as torch
        out = np.take_along_axis(stacked, choice[..., None], axis=-1)[..., 0]
        chosen = np.take_along_axis(np.broadcast_to(where, stacked.shape), choice[..., None], axis=-1)[..., 0]

        def backward(g):
            dxp = np.zeros((a.shape[0], a.shape[1], plane.size), dtype=g.dtype)
            rows = np.arange(a.shape[0] * a.shape[1]).reshape(a.shape[0], a.shape[1], *([1] * rank))
            np.add.at(dxp.reshape(-1), (rows * plane.size + chosen).reshape(-1), g.reshape(-1))
            dxp = dxp.reshape(xp.shape)
            return (dxp[(slice(None), slice(None)) + tuple(slice(p, p + n) for p, n in zip(pads, spatial))],)
        result = Tensor.from_op(out, (x,), backward)
        if not return_indices:
            return result
        # padded-plane position -> input-plane position (h * W + w)
        coords = np.unravel_index(chosen, xp.shape[2:])
        flat = np.zeros(chosen.shape, dtype=np.int64)
        for c, p, n in zip(coords, pads, spatial):
            flat = flat * n + (c - p)
        return result, flat
    if a.dtype.kind != "f":
        raise TypeError(f"{who}: average pooling needs a float tensor, got {a.dtype} (as in torch)")
    inside_pad = np.pad(np.ones(tuple(n + 2 * p for n, p in zip(spatial, pads))), [(0, e) for e in after])
    inside = np.pad(np.ones(spatial), [(p, p + e) for p, e in zip(pads, after)])
    count = sum(window(inside_pad if count_include_pad else inside, off) for off in offsets)
    divisor = np.asarray(divisor_override if divisor_override else count, dtype=a.dtype)
    out = stacked.sum(axis=-1) / divisor

    def backward(g):
        share = np.broadcast_to((g / divisor)[..., None], stacked.shape)
        dxp = np.zeros((a.shape[0] * a.shape[1], plane.size), dtype=g.dtype)
        rows = np.arange(a.shape[0] * a.shape[1]).reshape(-1, *([1] * (rank + 1)))
        np.add.at(dxp.reshape(-1), (rows * plane.size + where).reshape(-1), share.reshape(-1))
        dxp = dxp.reshape(xp.shape)
        return (dxp[(slice(None), slice(None)) + tuple(slice(p, p + n) for p, n in zip(pads, spatial))],)
    return Tensor.from_op(out.astype(a.dtype, copy=False), (x,), backward)


def _plain(dilation, ceil_mode, return_indices, count_include_pad=True, divisor_override=None) -> bool:
    """No torch option beyond kernel/stride/padding: the fast channels-last path applies."""
    return (dilation == 1 or tuple(np.atleast_1d(dilation)) in ((1,), (1, 1))) and not ceil_mode and \
        not return_indices and count_include_pad and not divisor_override


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Chapter 16: max pooling of (N, C, H, W) as ``torch.nn.functional.max_pool2d`` (stride defaults to the kernel).

    ``dilation``, ``ceil_mode`` and ``return_indices`` (positions h * W + w in each input plane) as torch.
    """
    if _plain(dilation, ceil_mode, return_indices):
        return _pool_nchw(input, kernel_size, stride, padding, "max", "max_pool2d", 2)
    return _pool_general(input, "max", kernel_size, stride, padding, dilation, ceil_mode, True, return_indices,
                         None, "max_pool2d", 2)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override=None) -> Tensor:
    """Chapter 16: average pooling of (N, C, H, W) as ``torch.nn.functional.avg_pool2d``.

    ``count_include_pad=False`` divides by the real pixels of each window only; ``ceil_mode`` and
    ``divisor_override`` as torch.
    """
    if _plain(1, ceil_mode, False, count_include_pad, divisor_override):
        return _pool_nchw(input, kernel_size, stride, padding, "avg", "avg_pool2d", 2)
    return _pool_general(input, "avg", kernel_size, stride, padding, 1, ceil_mode, count_include_pad, False,
                         divisor_override, "avg_pool2d", 2)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """Chapter 16: max pooling of (N, C, L) as ``torch.nn.functional.max_pool1d`` (same options as max_pool2d)."""
    if _plain(dilation, ceil_mode, return_indices):
        return _pool_nchw(input, kernel_size, stride, padding, "max", "max_pool1d", 1)
    return _pool_general(input, "max", kernel_size, stride, padding, dilation, ceil_mode, True, return_indices,
                         None, "max_pool1d", 1)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Chapter 16: average pooling of (N, C, L) as ``torch.nn.functional.avg_pool1d`` (same options as avg_pool2d)."""
    if _plain(1, ceil_mode, False, count_include_pad):
        return _pool_nchw(input, kernel_size, stride, padding, "avg", "avg_pool1d", 1)
    return _pool_general(input, "avg", kernel_size, stride, padding, 1, ceil_mode, count_include_pad, False,
                         None, "avg_pool1d", 1)


# ------------------------------------------------------------------ transposed convolution (issue 18)
def _dilate_input(x: Tensor, strides: tuple) -> Tensor:
    """NC* ``x`` with ``stride - 1`` zeros between neighbouring pixels along each spatial axis (an autograd op)."""
    if all(s == 1 for s in strides):
        return x
    spatial = x.shape[2:]
    out = np.zeros(x.shape[:2] + tuple((n - 1) * s + 1 for n, s in zip(spatial, strides)), dtype=x.dtype)
    where = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in strides)
    out[where] = x.data
    return Tensor.from_op(out, (x,), lambda g: (g[where],))


def conv_transpose_nchw(input, weight, bias, strides, crops, output_padding, dilation, groups, who) -> Tensor:
    """Chapter 16: transposed convolution of (N, C, *spatial) ``input`` with a torch-layout ``weight``
    (C, out/groups, *kernel), ``crops`` = ((before, after), ...) per spatial axis (torch's ``padding`` p is (p, p)).

    The gradient of a convolution with respect to its input, computed as a convolution: spread the
    input out by ``stride`` (zeros in between), pad it by ``dilation*(k-1) - before`` and
    ``dilation*(k-1) - after + output_padding`` (a negative width crops), and convolve with the kernel
    flipped and its channel axes swapped. Output size per axis:
    ``(n - 1)*stride - before - after + dilation*(k - 1) + output_padding + 1``.
    """
    x, w = as_tensor(input), as_tensor(weight)
    rank = len(strides)
    if x.ndim != rank + 2 or w.ndim != rank + 2:
        raise ValueError(f"{who}: expected a {rank + 2}-D input and weight (in_channels, out_channels/groups, "
                         f"*kernel), got input {x.shape} and weight {w.shape}")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1 or x.shape[1] % groups:
        raise ValueError(f"{who}: groups must be a positive integer dividing the input's {x.shape[1]} channels, "
                         f"got {groups!r}")
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"{who}: the input has {x.shape[1]} channels (axis 1, shape {x.shape}) but the weight "
                         f"{w.shape} expects {w.shape[0]} (weight layout: in_channels, out_channels/groups, *kernel)")
    for op, s, d in zip(output_padding, strides, dilation):
        if s < 1 or d < 1:
            raise ValueError(f"{who}: stride and dilation must be >= 1, got stride {strides}, dilation {dilation}")
        if not 0 <= op < max(s, d):
            raise ValueError(f"{who}: output_padding {output_padding} must be smaller than stride {strides} or "
                             f"dilation {dilation} (as in torch)")
    kernel = w.shape[2:]
    widths = []
    for k, d, (before, after), op in zip(kernel, dilation, crops, output_padding):
        reach = d * (k - 1)
        widths.append((reach - before, reach - after + op))
    for n, k, d, (lo, hi), s in zip(x.shape[2:], kernel, dilation, widths, strides):
        if (n - 1) * s + 1 + lo + hi - d * (k - 1) < 1:
            raise ValueError(f"{who}: padding {crops} leaves no output for an input of shape {x.shape}")
    flat = []
    for lo, hi in widths[::-1]:  # F.pad lists the last axis first
        flat += [lo, hi]
    from .shape import pad as _pad_tensor
    xp = _pad_tensor(_dilate_input(x, tuple(strides)), tuple(flat))
    cin, og = w.shape[0], w.shape[1]
    # (C, O/g, *k) -> (g, C/g, O/g, *k) -> (g, O/g, C/g, *k) -> (O, C/g, *k), flipped in space
    wc = w.reshape((groups, cin // groups, og) + kernel).swapaxes(1, 2).reshape((groups * og, cin // groups) + kernel)
    wc = wc.flip(tuple(range(2, rank + 2)))
    if rank == 1:
        return conv1d(xp, wc, bias, 1, 0, dilation, groups)
    return conv2d(xp, wc, bias, 1, 0, dilation, groups)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups: int = 1,
                     dilation=1) -> Tensor:
    """Chapter 16: ``torch.nn.functional.conv_transpose2d``: input (N, C, H, W), weight (C, out/groups, kh, kw).

    Output height ``(H - 1)*stride - 2*padding + dilation*(kh - 1) + output_padding + 1`` (width alike).
    """
    who = "conv_transpose2d"
    stride, dilation = _tuple(stride, 2, "stride", who), _tuple(dilation, 2, "dilation", who)
    pads, extra = _tuple(padding, 2, "padding", who), _tuple(output_padding, 2, "output_padding", who)
    return conv_transpose_nchw(input, weight, bias, stride, tuple((p, p) for p in pads), extra, dilation, groups, who)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups: int = 1,
                     dilation=1) -> Tensor:
    """Chapter 16: ``torch.nn.functional.conv_transpose1d``: input (N, C, L), weight (C, out/groups, k)."""
    who = "conv_transpose1d"
    stride, dilation = _tuple(stride, 1, "stride", who), _tuple(dilation, 1, "dilation", who)
    pads, extra = _tuple(padding, 1, "padding", who), _tuple(output_padding, 1, "output_padding", who)
    return conv_transpose_nchw(input, weight, bias, stride, tuple((p, p) for p in pads), extra, dilation, groups, who)


# ------------------------------------------------------------------ interpolation (issue 18)
_INTERPOLATE_RANK = {"linear": 1, "bilinear": 2}


def _source_positions(n_in: int, n_out: int, scale, mode: str, align_corners: bool):
    """Where output position j reads in the input, as torch computes it (``scale``: the user's
    scale factor, or None when ``size`` was given)."""
    dst = np.arange(n_out, dtype=np.float64)
    if mode in ("nearest", "nearest-exact"):
        step = 1.0 / scale if scale else n_in / n_out
        src = np.floor((dst + (0.5 if mode == "nearest-exact" else 0.0)) * step)
        return np.minimum(src.astype(np.int64), n_in - 1), None
    if align_corners:
        src = dst * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(n_out)
    else:
        step = 1.0 / scale if scale else n_in / n_out
        src = np.maximum((dst + 0.5) * step - 0.5, 0.0)
    lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    return (lo, hi), src - lo


def interpolate(input, size=None, scale_factor=None, mode: str = "nearest", align_corners=None) -> Tensor:
    """Chapter 16: resize (N, C, *spatial) as ``torch.nn.functional.interpolate``.

    ``mode``: 'nearest' (torch's floor rule), 'nearest-exact' (rounds like image libraries),
    'linear' (3-D input) or 'bilinear' (4-D); ``size`` or ``scale_factor`` (a number or one per
    spatial axis); ``align_corners`` for the linear modes (default False, as torch). Each axis is
    resized in turn by indexing (nearest) or by mixing two neighbours (linear), so gradients
    flow back through ordinary indexing.
    """
    who = "interpolate"
    x = as_tensor(input)
    if mode not in ("nearest", "nearest-exact", "linear", "bilinear"):
        raise ValueError(f"{who}: mode must be 'nearest', 'nearest-exact', 'linear' or 'bilinear', got {mode!r}")
    rank = x.ndim - 2
    if rank < 1:
        raise ValueError(f"{who}: expected an input (N, C, *spatial), got shape {x.shape}")
    if mode in _INTERPOLATE_RANK and rank != _INTERPOLATE_RANK[mode]:
        raise ValueError(f"{who}: mode {mode!r} needs a {_INTERPOLATE_RANK[mode] + 2}-D input, got shape {x.shape}")
    if align_corners is not None and mode not in _INTERPOLATE_RANK:
        raise ValueError(f"{who}: align_corners only applies to the linear modes, got mode {mode!r}")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{who}: give exactly one of size and scale_factor")
    spatial = x.shape[2:]
    if size is not None:
        sizes, scales = _tuple(size, rank, "size", who), (None,) * rank
    else:
        scales = tuple(float(s) for s in scale_factor) if isinstance(scale_factor, (tuple, list)) else \
            (float(scale_factor),) * rank
        if len(scales) != rank or any(s <= 0 for s in scales):
            raise ValueError(f"{who}: scale_factor must be a positive number or {rank} of them, got {scale_factor!r}")
        sizes = tuple(int(np.floor(n * s)) for n, s in zip(spatial, scales))
    if any(n < 1 for n in sizes):
        raise ValueError(f"{who}: the output size {sizes} must be positive (input shape {x.shape})")
    if x.dtype.kind != "f" and mode in _INTERPOLATE_RANK:
        x = x.astype(np.float32)
    out = x
    for axis, (n_in, n_out, scale) in enumerate(zip(spatial, sizes, scales), start=2):
        index, weight = _source_positions(n_in, n_out, scale, mode, bool(align_corners))
        lead = (slice(None),) * axis
        if weight is None:
            out = out[lead + (index,)]
            continue
        lam = weight.astype(out.dtype).reshape((n_out,) + (1,) * (x.ndim - 1 - axis))
        out = out[lead + (index[0],)] * (1 - lam) + out[lead + (index[1],)] * lam
    return out
