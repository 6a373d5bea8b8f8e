"""Chapter 07: deprecated alias of :mod:`nnlib.models.losses` (the Keras-style losses, ``y_true`` first).

Import from ``nnlib.models.losses`` instead; this module re-exports the same
objects so that older code (``from nnlib import keras_losses``) keeps working.
"""
from .models.losses import *  # noqa: F401,F403
from .models.losses import __all__, deserialize, serialize  # noqa: F401
from .models.losses import _CLASSES, _FUNCTIONS  # noqa: F401
