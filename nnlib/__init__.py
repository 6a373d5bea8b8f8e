"""nnlib: the neural-network framework of the course "From scratch: large-model
development and fine-tuning" (从零开始大模型开发与微调).

It grows chapter by chapter: ``Tensor`` and autograd (chapter 03; the engine is
``nnlib/engine.py``, the operations ``nnlib/ops/``), ``functional`` and ``losses``
(chapters 01-02), ``optim`` (chapter 04), ``data`` (chapter 05), ``layers``/``models``
(chapters 06-07), ``metrics`` (chapter 08), the language-model pieces (chapters 11-13),
and ``parallel`` (data parallelism over threads, a chapter-15 preview). NumPy is its
only dependency.

Operations exist as Tensor methods (``x.sum(axis=0)``) and as functions
(``nnlib.sum(x, axis=0)``, ``nnlib.zeros(2, 3)``), with PyTorch's names where it has them.
"""
from .engine import Parameter, Tensor, as_tensor, enable_grad, is_grad_enabled, no_grad, tensor
from . import ops
from .ops import *  # noqa: F401,F403  (nnlib.exp, nnlib.zeros, nnlib.concatenate, ...)
from .ops import abs, all, any, max, min, pow, round, sum  # noqa: F401,A004  (nnlib.sum(x); not in __all__)
from .random import get_rng, manual_seed
from .module import Module, ModuleList
from . import functional
from . import memory

memory.tune_allocator_if_asked()  # only with NNLIB_TUNE_MALLOC=1 (chapter 12)

__version__ = "0.1.0"

__all__ = [
    "Tensor", "Parameter", "tensor", "as_tensor", "no_grad", "enable_grad", "is_grad_enabled",
    "manual_seed", "get_rng", "Module", "ModuleList", "functional", "__version__",
] + ops.__all__
