"""Chapters 06-11: layers, Keras-style (``Dense(units, activation=..., input_shape=...)``).

Chapter 06 brings ``Dense``, ``Activation`` and ``Flatten``; chapter 09 adds
``Dropout``, ``GaussianNoise`` and ``BatchNormalization``. Every layer builds its weights on the
first call (or at once when ``input_shape`` is given), has a ``name``, a
``trainable`` flag, ``get_weights``/``set_weights`` and a ``get_config`` that
``save``/``load_model`` use. ``register_layer`` adds a class to the whitelist
``load_model`` may rebuild. Chapter 11 adds the sequence layers: ``Embedding``,
``LayerNorm``, ``SelfAttention`` and the GPT ``TransformerBlock``. Chapter 16 adds the
convolutional layers (channels-last by default, as Keras): ``Conv2D``, ``Conv1D``, ``MaxPooling2D``,
``AveragePooling2D`` and ``GlobalAveragePooling2D``.

Names and arguments are Keras' (``MaxPool2D``/``AvgPool2D`` are Keras' own aliases); a torch
spelling (``Conv2d``, ``Linear``) is no name here, since it would promise torch's arguments.
The chapter-11 sequence layers follow torch (``LayerNorm(normalized_shape, eps=1e-5)``).
See the naming rule in :mod:`nnlib`.
"""
from .base import Layer
from ..saving.registry import register_layer, registered_layers
from .conv import (AveragePooling2D, AvgPool2D, Conv1D, Conv2D, Conv2DTranspose, GlobalAveragePooling2D,
                   MaxPool2D, MaxPooling2D)
from .core import Activation, Dense, Dropout, Flatten, GaussianNoise, activation_name, get_activation
from .normalization import BatchNormalization, batch_norm_train
from .sequence import Embedding, LayerNorm, SelfAttention, TransformerBlock

__all__ = [
    "Layer", "Dense", "Activation", "Flatten", "Dropout", "GaussianNoise", "BatchNormalization",
    "Embedding", "LayerNorm", "SelfAttention", "TransformerBlock",
    "Conv1D", "Conv2D", "Conv2DTranspose", "MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D",
    "GlobalAveragePooling2D",
    "get_activation", "activation_name", "batch_norm_train", "register_layer", "registered_layers",
]
