"""Chapters 06-11: layers, Keras-style (``Dense(units, activation=..., input_shape=...)``)."""
from .base import Layer
from .core import Dense, get_activation

__all__ = ["Layer", "Dense", "get_activation"]
