"""Chapter 16: convolutional layers, Keras-style: ``Conv2D``, ``Conv1D``, ``MaxPooling2D``,
``AveragePooling2D`` and ``GlobalAveragePooling2D`` (卷积层与池化层).

Layout: like Keras, the layers take **channels-last** input by default,
``data_format="channels_last"``: images (batch, height, width, channels) and
sequences (batch, length, channels); ``data_format="channels_first"`` takes torch's
(batch, channels, height, width). Kernels are stored in Keras' layout
(kh, kw, in_channels/groups, filters) (torch's ``nn.Conv2d`` stores
(filters, in_channels/groups, kh, kw)). ``padding`` is ``"valid"`` (no padding),
``"same"`` (output size ceil(input / stride), the extra pixel after, as Keras) or an
int / tuple of symmetric paddings. The arithmetic is :mod:`nnlib.ops.conv`'s
im2col, run channels-last.
"""
from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import initializers
from .. import regularizers as _regularizers
from ..ops.conv import conv2d_channels_last, conv_output_size, pool2d_channels_last, same_padding
from ..engine import Parameter
from .base import Layer, auto_name, snake_case
from ..saving.registry import register_layer
from ..inputs import shape_text as _shape_text
from .core import set_kernel_options

__all__ = ["Conv1D", "Conv2D", "MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D",
           "GlobalAveragePooling2D"]

_FORMATS = ("channels_last", "channels_first")


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _int_tuple(value, n: int, minimum: int):
    """``value`` (an int, or a tuple/list of ``n`` ints) as a tuple of ``n`` ints each >= ``minimum``; else None.

    Strict: only true integers (NumPy's too); a string (``"33"``), a float (``2.5``, even
    ``3.0``), a bool or a number below ``minimum`` makes it None (the caller names the argument).
    """
    if _is_int(value):
        value = (value,) * n
    if not isinstance(value, (tuple, list, np.ndarray)) or len(value) != n or not all(_is_int(v) for v in value):
        return None
    out = tuple(int(v) for v in value)
    return out if all(v >= minimum for v in out) else None


def _ints(value, n: int, what: str, who: str) -> tuple:
    out = _int_tuple(value, n, 1)
    if out is None:
        raise ValueError(f"{who}: {what} must be a positive int or a tuple of {n} positive ints, got {value!r}")
    return out


def _padding_arg(padding, n: int, who: str):
    if isinstance(padding, str):
        if padding.lower() not in ("valid", "same"):
            raise ValueError(f"{who}: padding must be 'valid', 'same' or an int/tuple, got {padding!r}")
        return padding.lower()
    out = _int_tuple(padding, n, 0)
    if out is None:
        raise ValueError(f"{who}: padding must be 'valid', 'same' or {n} non-negative ints, got {padding!r}")
    return out


def _pads(padding, sizes, kernel, strides, dilation) -> tuple:
    """((before, after), ...) per spatial axis."""
    if padding == "valid":
        return tuple((0, 0) for _ in sizes)
    if padding == "same":
        return tuple(same_padding(n, k, s, d) for n, k, s, d in zip(sizes, kernel, strides, dilation))
    return tuple((p, p) for p in padding)


class _Spatial(Layer):
    """Shared input checks and layout handling of the layers of this module."""

    rank = 2

    def _init_format(self, data_format):
        if self._auto_named:  # Keras' names: conv2d, max_pooling2d (not conv2_d)
            self.name = auto_name(snake_case(type(self).__name__).replace("1_d", "1d").replace("2_d", "2d"))
        if data_format not in _FORMATS:
            raise ValueError(f"{type(self).__name__}: data_format must be one of {_FORMATS}, got {data_format!r}")
        self.data_format = data_format

    @property
    def _who(self) -> str:
        return f"layer {self.name!r} ({type(self).__name__})"

    def _layout_text(self) -> str:
        spatial = ("length",) if self.rank == 1 else ("height", "width")
        axes = (("batch",) + spatial + ("channels",) if self.data_format == "channels_last"
                else ("batch", "channels") + spatial)
        return "(" + ", ".join(axes) + ")"

    def _check_rank(self, shape) -> None:
        if len(shape) != self.rank + 2:
            hint = ""
            if len(shape) == self.rank + 1:
                example = "x.reshape(-1, 8, 8, 1)" if self.rank == 2 else "x[..., None]"
                hint = (f"; it looks like the channel axis is missing: add one (e.g. {example} for grey images)"
                        if self.data_format == "channels_last" else "; add a channel axis")
            raise ValueError(f"{self._who} expects {self.rank + 2}-D input {self._layout_text()} with "
                             f"data_format={self.data_format!r}, got input of shape {_shape_text(tuple(shape))}{hint}")

    def _channels(self, shape):
        return shape[-1] if self.data_format == "channels_last" else shape[1]

    def _known_channels(self, input_shape) -> int:
        """The input's channel count, checked: a layer builds its kernel from it."""
        self._check_rank(input_shape)
        channels = self._channels(input_shape)
        if channels is None or int(channels) <= 0:
            raise ValueError(f"{self._who} needs a known number of input channels; got input shape "
                             f"{_shape_text(tuple(input_shape))} ({self._layout_text()})")
        return int(channels)

    def _spatial(self, shape) -> tuple:
        return tuple(shape[1:-1]) if self.data_format == "channels_last" else tuple(shape[2:])

    def _with_spatial(self, shape, spatial, channels) -> tuple:
        if self.data_format == "channels_last":
            return (shape[0],) + tuple(spatial) + (channels,)
        return (shape[0], channels) + tuple(spatial)

    def _to_nhwc(self, x):
        """The input as a 4-D channels-last Tensor (a 1-D sequence becomes an image of height 1)."""
        if self.rank == 2:
            return x if self.data_format == "channels_last" else x.transpose(0, 2, 3, 1)
        if self.data_format == "channels_first":
            x = x.transpose(0, 2, 1)
        return x.reshape(x.shape[0], 1, x.shape[1], x.shape[2])

    def _from_nhwc(self, y):
        if self.rank == 2:
            return y if self.data_format == "channels_last" else y.transpose(0, 3, 1, 2)
        y = y.reshape(y.shape[0], y.shape[2], y.shape[3])
        return y if self.data_format == "channels_last" else y.transpose(0, 2, 1)

    def get_config(self) -> dict:
        config = super().get_config()
        config["data_format"] = self.data_format
        return config


class _Conv(_Spatial):
    """Chapter 16: the N-D convolution layer behind ``Conv1D`` and ``Conv2D``."""

    def __init__(self, filters: int, kernel_size, strides=1, padding="valid", data_format="channels_last",
                 dilation_rate=1, groups: int = 1, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, input_shape=None, name=None, trainable: bool = True, dtype="float32"):
        super().__init__(name=name, trainable=trainable, input_shape=input_shape)
        who = type(self).__name__
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters <= 0:
            raise ValueError(f"{who}: filters must be a positive integer, got {filters!r}")
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups <= 0:
            raise ValueError(f"{who}: groups must be a positive integer, got {groups!r}")
        if filters % groups:
            raise ValueError(f"{who}: filters ({filters}) must be divisible by groups ({groups})")
        self.filters, self.groups = int(filters), int(groups)
        self.kernel_size = _ints(kernel_size, self.rank, "kernel_size", who)
        self.strides = _ints(strides, self.rank, "strides", who)
        self.dilation_rate = _ints(dilation_rate, self.rank, "dilation_rate", who)
        self.padding = _padding_arg(padding, self.rank, who)
        self._init_format(data_format)
        set_kernel_options(self, activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                           bias_regularizer, dtype)
        self._build_if_shape_known()

    def build(self, input_shape) -> None:
        """Chapter 16: create the kernel (see :meth:`_kernel_shape`) and bias (filters,)."""
        shape = self._kernel_shape(self._known_channels(input_shape), input_shape)
        self.kernel = Parameter(initializers.get(self.kernel_initializer)(shape, self.dtype))
        if self.use_bias:
            self.bias = Parameter(initializers.get(self.bias_initializer)((self.filters,), self.dtype))
        self.built = True

    def _kernel_shape(self, channels: int, input_shape) -> tuple:
        """(*kernel_size, in_channels/groups, filters) for an input with ``channels`` channels."""
        if channels % self.groups:
            raise ValueError(f"{self._who}: the input's {channels} channels must be divisible by groups "
                             f"({self.groups}); input shape {_shape_text(tuple(input_shape))}")
        return self.kernel_size + (channels // self.groups, self.filters)

    def _built_channels(self) -> int:
        """How many input channels the built kernel takes."""
        return self.kernel.shape[-2] * self.groups

    def _check_input(self, x) -> None:
        self._check_rank(x.shape)
        expected = self._built_channels()
        if self._channels(x.shape) != expected:
            where = "last axis" if self.data_format == "channels_last" else "axis 1"
            raise ValueError(f"{self._who} was built for {expected} input channels on the {where} "
                             f"{self._layout_text()}, but got input of shape {_shape_text(tuple(x.shape))}")

    def forward(self, x):
        """Chapter 16: ``activation(conv(x, kernel) + bias)``."""
        self._check_input(x)
        x4 = self._to_nhwc(x)
        kernel = self.kernel if self.rank == 2 else self.kernel.reshape((1,) + self.kernel.shape)
        lift = (lambda t: t) if self.rank == 2 else (lambda t: (1,) + t)
        pads = _pads(self.padding, self._spatial(x.shape), self.kernel_size, self.strides, self.dilation_rate)
        pads = pads if self.rank == 2 else ((0, 0),) + pads
        fuse = self.activation is F.relu  # one operation: no separate activation array and mask
        out = conv2d_channels_last(x4, kernel, self.bias, lift(self.strides), pads, lift(self.dilation_rate),
                                   self.groups, who=self._who, relu=fuse)
        out = self._from_nhwc(out)
        return out if self.activation is None or fuse else self.activation(out)

    def compute_output_shape(self, input_shape):
        """Chapter 16: batch, output sizes floor((n + pad - dilation (k - 1) - 1) / stride) + 1, filters."""
        input_shape = tuple(input_shape)
        self._check_rank(input_shape)
        spatial = []
        for n, k, s, d, i in zip(self._spatial(input_shape), self.kernel_size, self.strides, self.dilation_rate,
                                 range(self.rank)):
            if n is None:
                spatial.append(None)
                continue
            (before, after), = _pads(self.padding if isinstance(self.padding, str) else (self.padding[i],),
                                     (n,), (k,), (s,), (d,))
            spatial.append(conv_output_size(n, k, s, d, before + after))
        return self._with_spatial(input_shape, spatial, self.filters)

    def get_config(self) -> dict:
        """Chapter 16: every constructor argument (for ``save``)."""
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=list(self.kernel_size), strides=list(self.strides),
                      padding=self.padding if isinstance(self.padding, str) else list(self.padding),
                      dilation_rate=list(self.dilation_rate), groups=self.groups,
                      activation=self.activation_name, use_bias=self.use_bias,
                      kernel_initializer=self.kernel_initializer if isinstance(self.kernel_initializer, str)
                      else "glorot_uniform",
                      bias_initializer=self.bias_initializer if isinstance(self.bias_initializer, str) else "zeros",
                      kernel_regularizer=_regularizers.serialize(self.kernel_regularizer),
                      bias_regularizer=_regularizers.serialize(self.bias_regularizer),
                      dtype=self.dtype.name)
        return config


@register_layer
class Conv2D(_Conv):
    """Chapter 16: 2-D convolution layer, ``Conv2D(filters, kernel_size, strides=1, padding='valid', ...)``.

    Input (batch, height, width, channels) by default (``data_format='channels_first'``
    for (batch, channels, height, width)); kernel (kh, kw, in_channels/groups, filters);
    ``dilation_rate`` and ``groups`` as in Keras/torch. Parameters:
    kh*kw*in_channels/groups*filters (+ filters for the bias).
    """

    rank = 2


@register_layer
class Conv1D(_Conv):
    """Chapter 16: 1-D convolution layer over sequences (batch, length, channels); kernel (k, in/groups, filters)."""

    rank = 1


class _Pooling2D(_Spatial):
    kind = "max"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format="channels_last",
                 input_shape=None, name=None, trainable: bool = True):
        super().__init__(name=name, trainable=trainable, input_shape=input_shape)
        who = type(self).__name__
        self.pool_size = _ints(pool_size, 2, "pool_size", who)
        self.strides = self.pool_size if strides is None else _ints(strides, 2, "strides", who)
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"{who}: padding must be 'valid' or 'same', got {padding!r}")
        self.padding = padding.lower()
        self._init_format(data_format)

    def build(self, input_shape) -> None:
        """Chapter 16: no weights; checks the input's rank."""
        self._check_rank(input_shape)
        self.built = True

    def forward(self, x):
        """Chapter 16: pool every (pool_size) window, moving by ``strides``."""
        self._check_rank(x.shape)
        sizes = self._spatial(x.shape)
        pads = _pads(self.padding, sizes, self.pool_size, self.strides, (1, 1))
        out = pool2d_channels_last(self._to_nhwc(x), self.kind, self.pool_size, self.strides, pads, who=self._who)
        if self.kind == "avg" and self.padding == "same" and any(p for pair in pads for p in pair):
            # Keras averages over the real pixels only: divide by the share of the window inside the image
            ones = np.ones((1,) + tuple(sizes) + (1,), dtype=out.dtype)
            share = pool2d_channels_last(ones, "avg", self.pool_size, self.strides, pads).data
            out = out * (1.0 / share)
        return self._from_nhwc(out)

    def compute_output_shape(self, input_shape):
        """Chapter 16: floor((n - pool) / stride) + 1 ('valid') or ceil(n / stride) ('same') per axis."""
        input_shape = tuple(input_shape)
        self._check_rank(input_shape)
        spatial = []
        for n, k, s in zip(self._spatial(input_shape), self.pool_size, self.strides):
            if n is None:
                spatial.append(None)
            elif self.padding == "same":
                spatial.append(-(-n // s))
            else:
                spatial.append(conv_output_size(n, k, s, 1, 0))
        return self._with_spatial(input_shape, spatial, self._channels(input_shape))

    def get_config(self) -> dict:
        """Chapter 16: pool size, strides, padding, data format (for ``save``)."""
        config = super().get_config()
        config.update(pool_size=list(self.pool_size), strides=list(self.strides), padding=self.padding)
        return config


@register_layer
class MaxPooling2D(_Pooling2D):
    """Chapter 16: max pooling (最大池化) of images, ``MaxPooling2D(pool_size=(2, 2), strides=None, padding='valid')``."""

    kind = "max"


@register_layer
class AveragePooling2D(_Pooling2D):
    """Chapter 16: average pooling of images; with ``padding='same'`` it averages the real pixels only (as Keras)."""

    kind = "avg"


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D


@register_layer
class GlobalAveragePooling2D(_Spatial):
    """Chapter 16: the mean of each channel over all positions: (N, H, W, C) -> (N, C) (``keepdims`` keeps 1x1)."""

    def __init__(self, data_format="channels_last", keepdims: bool = False, input_shape=None, name=None,
                 trainable: bool = True):
        super().__init__(name=name, trainable=trainable, input_shape=input_shape)
        self._init_format(data_format)
        self.keepdims = bool(keepdims)

    def build(self, input_shape) -> None:
        """Chapter 16: no weights; checks the input's rank."""
        self._check_rank(input_shape)
        self.built = True

    def _axes(self) -> tuple:
        return (1, 2) if self.data_format == "channels_last" else (2, 3)

    def forward(self, x):
        """Chapter 16: average over the spatial axes."""
        self._check_rank(x.shape)
        return x.mean(axis=self._axes(), keepdims=self.keepdims)

    def compute_output_shape(self, input_shape):
        """Chapter 16: (batch, channels), or with 1x1 spatial axes when ``keepdims``."""
        input_shape = tuple(input_shape)
        self._check_rank(input_shape)
        channels = self._channels(input_shape)
        if self.keepdims:
            return self._with_spatial(input_shape, (1, 1), channels)
        return (input_shape[0], channels)

    def get_config(self) -> dict:
        """Chapter 16: data format and keepdims (for ``save``)."""
        config = super().get_config()
        config["keepdims"] = self.keepdims
        return config


# ---------------------------------------------------------------- issue 18: the transposed convolution layer
from ..ops.conv import conv_transpose_nchw  # noqa: E402

__all__ += ["Conv2DTranspose"]


@register_layer
class Conv2DTranspose(_Conv):
    """Chapter 16: transposed 2-D convolution (转置卷积, "deconvolution"), Keras-style:
    ``Conv2DTranspose(filters, kernel_size, strides=1, padding='valid', output_padding=None, ...)``.

    It upsamples: each input pixel adds ``kernel`` times its value into the output. Input
    (batch, height, width, channels) by default; kernel (kh, kw, filters, in_channels), Keras'
    layout (torch's ``nn.ConvTranspose2d`` stores (in_channels, filters, kh, kw)). Output size per
    axis, as Keras: ``padding='same'``: n*stride; ``'valid'``: n*stride + max(k_eff - stride, 0)
    with k_eff = dilation*(k - 1) + 1; with ``output_padding`` given:
    (n - 1)*stride + k_eff - 2*pad + output_padding (pad = k//2 for 'same', else 0 or the int padding).
    The arithmetic is :func:`nnlib.ops.conv.conv_transpose_nchw`.
    """

    rank = 2

    def __init__(self, filters: int, kernel_size, strides=1, padding="valid", output_padding=None,
                 data_format="channels_last", dilation_rate=1, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, input_shape=None, name=None, trainable: bool = True, dtype="float32"):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, groups=1, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                         input_shape=input_shape, name=name, trainable=trainable, dtype=dtype)
        who = type(self).__name__
        if output_padding is None:
            self.output_padding = None
        else:
            out = _int_tuple(output_padding, self.rank, 0)
            if out is None or any(p >= max(s, d) for p, s, d in zip(out, self.strides, self.dilation_rate)):
                raise ValueError(f"{who}: output_padding must be None or {self.rank} non-negative ints, each "
                                 f"smaller than the stride (or dilation), got {output_padding!r}")
            self.output_padding = out

    def _kernel_shape(self, channels: int, input_shape) -> tuple:
        """(kh, kw, filters, in_channels): torch's and Keras' transposed-convolution layout."""
        return self.kernel_size + (self.filters, channels)

    def _built_channels(self) -> int:
        return self.kernel.shape[-1]

    def _geometry(self, sizes):
        """((before, after) crops, output_padding) per spatial axis, for input sizes ``sizes``."""
        crops, extra = [], []
        for i, (n, k, s, d) in enumerate(zip(sizes, self.kernel_size, self.strides, self.dilation_rate)):
            k_eff = d * (k - 1) + 1
            if self.output_padding is not None:
                p = (k // 2 if self.padding == "same" else 0) if isinstance(self.padding, str) else self.padding[i]
                crops.append((p, p))
                extra.append(self.output_padding[i])
            elif self.padding == "same":
                total = max(k_eff - s, 0)
                crops.append((total // 2, total - total // 2))
                extra.append(max(s - k_eff, 0))
            elif self.padding == "valid":
                crops.append((0, 0))
                extra.append(max(s - k_eff, 0))
            else:
                p = self.padding[i]
                crops.append((p, p))
                extra.append(0)
        return tuple(crops), tuple(extra)

    def forward(self, x):
        """Chapter 16: ``activation(conv_transpose(x, kernel) + bias)``."""
        self._check_input(x)
        crops, extra = self._geometry(self._spatial(x.shape))
        nchw = x.transpose(0, 3, 1, 2) if self.data_format == "channels_last" else x
        weight = self.kernel.transpose(3, 2, 0, 1)  # (kh, kw, filters, in) -> torch's (in, filters, kh, kw)
        out = conv_transpose_nchw(nchw, weight, self.bias, self.strides, crops, extra, self.dilation_rate, 1,
                                  self._who)
        out = out.transpose(0, 2, 3, 1) if self.data_format == "channels_last" else out
        return out if self.activation is None else self.activation(out)

    def compute_output_shape(self, input_shape):
        """Chapter 16: batch, the upsampled sizes (see the class docstring), filters."""
        input_shape = tuple(input_shape)
        self._check_rank(input_shape)
        sizes = self._spatial(input_shape)
        known = tuple(1 if n is None else n for n in sizes)
        crops, extra = self._geometry(known)
        spatial = [None if n is None else (n - 1) * s - b - a + d * (k - 1) + e + 1
                   for n, k, s, d, (b, a), e in zip(sizes, self.kernel_size, self.strides, self.dilation_rate,
                                                     crops, extra)]
        return self._with_spatial(input_shape, spatial, self.filters)

    def get_config(self) -> dict:
        """Chapter 16: every constructor argument (for ``save``)."""
        config = super().get_config()
        config.pop("groups", None)
        config["output_padding"] = None if self.output_padding is None else list(self.output_padding)
        return config
