"""nnlib: the neural-network framework of the course "From scratch: large-model
development and fine-tuning" (从零开始大模型开发与微调).

It grows chapter by chapter: ``Tensor`` and autograd (chapter 03),
``functional`` and ``losses`` (chapters 01-02), ``optim`` (chapter 04), ``data``
(chapter 05), ``layers``/``models`` (chapters 06-07), ``metrics`` (chapter 08),
the language-model pieces (chapters 11-13), and ``parallel`` (data parallelism over
threads, a chapter-15 preview). NumPy is its only dependency.
"""
from .tensor import (
    Parameter,
    Tensor,
    concatenate,
    enable_grad,
    is_grad_enabled,
    no_grad,
    stack,
    tensor,
    where,
)
from .tensor import matmul
from .random import get_rng, manual_seed
from .module import Module, ModuleList
from . import functional
from .memory import _tune_on_import

_tune_on_import()

__version__ = "0.1.0"

__all__ = [
    "Tensor", "Parameter", "tensor", "no_grad", "enable_grad", "is_grad_enabled",
    "concatenate", "stack", "where", "matmul", "manual_seed", "get_rng",
    "Module", "ModuleList", "functional", "__version__",
]
