"""nnlib: the neural-network framework of the course "From scratch: large-model
development and fine-tuning" (从零开始大模型开发与微调).

It grows chapter by chapter: ``Tensor`` and autograd (chapter 03; the engine is
``nnlib/engine.py``, the operations ``nnlib/ops/``), ``functional`` and ``losses``
(chapters 01-02), ``optim`` (chapter 04), ``data`` (chapter 05), ``layers``/``models``
(chapters 06-07), ``metrics`` (chapter 08), the language-model pieces (chapters 11-13),
and ``parallel`` (data parallelism over threads, a chapter-15 preview). NumPy is its
only dependency.

Operations exist as Tensor methods (``x.sum(axis=0)``) and as functions
(``nnlib.sum(x, axis=0)``, ``nnlib.zeros(2, 3)``).

The naming rule (one rule; ``tests/nnlib/test_naming_rule.py`` checks it). Every public
name follows ONE library, the one the course uses it beside, and takes that library's
arguments, order and defaults; no name may promise one library's signature and take
another's (there is no ``Conv2d``: the convolution layer is Keras' ``Conv2D``):

* **PyTorch** for the engine and what is built on it: ``Tensor``/``Parameter``, the
  operations (``nnlib.ops``), ``functional``, ``losses`` (prediction first:
  ``cross_entropy(logits, target)``), ``Module``, ``optim`` (``Adam(params, lr=1e-3,
  betas, eps=1e-8)``, schedulers), ``data.DataLoader`` and the layers of the language-model
  chapters (``LayerNorm(normalized_shape, eps=1e-5)``), because chapters 03-04 and 11-15
  check them step for step against torch. One exception, on purpose: the operations'
  keywords are NumPy's, ``axis``/``keepdims``/``ddof``, since the arrays underneath are
  NumPy's; every operation also accepts torch's ``dim``/``keepdim``/``correction`` (the
  ``torch_names`` wrapper; both at once is an error), and a call in torch's words gets
  torch's meaning: ``x.std(dim=0)`` is torch's unbiased estimate, ``x.std(axis=0)`` and
  ``x.std()`` NumPy's ddof=0; ``x.max(dim=1)`` returns torch's ``(values, indices)``,
  ``x.max(axis=1)`` the values; ``x.transpose(0, 1)`` swaps two dims as torch's does, a
  permutation of all dims (3 or more) is NumPy's (torch's ``permute``).
* **Keras** for the model-building API of chapters 06-10 and 16: ``layers`` (``Dense``,
  ``Conv2D``, ``MaxPooling2D``, ``Dropout(rate)``, ``BatchNormalization(axis=-1,
  momentum=0.99, epsilon=1e-3)``), ``models`` (``Sequential``, ``compile``/``fit``/
  ``evaluate``/``predict``, ``models.losses`` with ``y_true`` first), ``callbacks``,
  ``initializers`` and ``regularizers``, because chapter 05's program is a Keras program
  that runs by changing only its imports. Keras' optimizer defaults (Adam's epsilon 1e-7)
  apply where Keras applies them, inside ``compile("adam")``; ``nnlib.optim`` keeps torch's.
* **scikit-learn** for the data and evaluation utilities: ``data.train_test_split``,
  ``StandardScaler``, ``MinMaxScaler`` and everything in ``metrics`` (``accuracy_score``,
  ``f1_score``, ``roc_auc_score``...), because the course checks their numbers against
  scikit-learn's.

Where the language-model layers meet both libraries: ``Embedding(input_dim, output_dim)``
has Keras' arguments and Keras' uniform default initializer (the GPT passes GPT-2's
``gpt2_normal`` itself), ``LayerNorm`` is torch's, and the attention layer is
``SelfAttention(d_model, num_heads)``, a name neither library gives other arguments
(Keras' ``MultiHeadAttention`` takes ``(num_heads, key_dim)``, torch's
``MultiheadAttention`` a query, key and value).
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
