"""Chapter 06: ``Module``, the base of every layer and model, with its parameter registry.

Any attribute that is a :class:`~nnlib.Parameter`, a ``Module``, or a list or
tuple of them is found automatically, so a model is just a class whose
``__init__`` assigns its pieces and whose ``forward`` uses them. Parameters
shared between two places (weight tying) are listed once.
"""
from __future__ import annotations

from collections import OrderedDict
from contextlib import contextmanager

import numpy as np

from .engine import Parameter

__all__ = ["Module", "ModuleList"]


class Module:
    """Chapter 06: a piece of a network with parameters, children and a ``forward``."""

    training = True

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ----------------------------------------------------------- registry
    def _children_items(self):
        for name, value in vars(self).items():
            if name.startswith("_"):
                continue
            if isinstance(value, (Parameter, Module)):
                yield name, value
            elif isinstance(value, (list, tuple)) and value and all(
                isinstance(v, (Parameter, Module)) for v in value
            ):
                for i, item in enumerate(value):
                    yield f"{name}.{i}", item

    def named_modules(self, prefix: str = ""):
        """Chapter 06: (name, module) for this module and every module inside it."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [
                (f"{name}.{child}" if name else child, value)
                for child, value in module._children_items()
                if isinstance(value, Module)
            ]
            stack.extend(reversed(children))

    def modules(self):
        """Chapter 06: this module and all modules inside it."""
        return [m for _, m in self.named_modules()]

    def named_parameters(self, prefix: str = ""):
        """Chapter 06: (dotted name, Parameter) pairs, each shared parameter once."""
        seen = set()
        for module_name, module in self.named_modules(prefix):
            for name, value in module._children_items():
                if isinstance(value, Parameter) and id(value) not in seen:
                    seen.add(id(value))
                    yield (f"{module_name}.{name}" if module_name else name), value

    def parameters(self) -> list:
        """Chapter 06: every Parameter of the module, in definition order."""
        return [p for _, p in self.named_parameters()]

    def trainable_parameters(self) -> list:
        """Chapter 10: the parameters that currently require gradients."""
        return [p for p in self.parameters() if p.requires_grad]

    def register_buffer(self, name: str, value: np.ndarray) -> None:
        """Chapter 06: keep a non-learned array (e.g. running statistics) in the state_dict.

        ``name`` is this module's own (no dots); registering it again replaces the array.
        """
        if not isinstance(name, str) or not name or "." in name:
            raise ValueError(f"register_buffer on {type(self).__name__}: the name must be a non-empty string "
                             f"without dots, got {name!r}")
        buffers = self.__dict__.setdefault("_buffers", OrderedDict())
        buffers[name] = np.asarray(value)

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        """Chapter 06: (dotted name, ndarray) for every buffer (only this module's own with ``recurse=False``)."""
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, value in module.__dict__.get("_buffers", {}).items():
                yield (f"{module_name}.{name}" if module_name else name), value

    def buffers(self, recurse: bool = True) -> list:
        """Chapter 06: every buffer's array (see :meth:`named_buffers`)."""
        return [b for _, b in self.named_buffers(recurse=recurse)]

    def _buffer_owner(self, name, who: str):
        """(module, own name) of the buffer at dotted ``name``, or a KeyError that lists the buffers."""
        prefix, _, key = name.rpartition(".") if isinstance(name, str) else ("", "", None)
        module = self if not prefix else dict(self.named_modules()).get(prefix)  # own buffers: no tree walk
        if module is None or key not in module.__dict__.get("_buffers", {}):
            known = [n for n, _ in self.named_buffers()]
            raise KeyError(f"{who}: {type(self).__name__} has no buffer {name!r}; its buffers: {known}")
        return module, key

    def get_buffer(self, name: str) -> np.ndarray:
        """Chapter 06: the buffer at dotted ``name`` (as :meth:`named_buffers` names it), the array itself.

        Writing into it in place (``get_buffer("moving_mean")[...] = 0``) changes the module.
        """
        module, key = self._buffer_owner(name, "get_buffer")
        return module._buffers[key]

    def set_buffer(self, name: str, value) -> None:
        """Chapter 06: replace the existing buffer at dotted ``name`` with ``value`` (an array, kept as given).

        Unlike :meth:`load_state_dict` it does not check the shape or convert the dtype: the
        caller sets the buffer it means to (a quantized kernel, chosen moving statistics).
        """
        module, key = self._buffer_owner(name, "set_buffer")
        module._buffers[key] = np.asarray(value)

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Chapter 06: total number of values in the parameters."""
        params = self.trainable_parameters() if trainable_only else self.parameters()
        return int(sum(p.size for p in params))

    # -------------------------------------------------------------- state
    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Chapter 06: copies of every parameter and buffer, by dotted name."""
        state = OrderedDict((name, p.data.copy()) for name, p in self.named_parameters())
        for name, value in self.named_buffers():
            state[name] = np.array(value, copy=True)
        return state

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Chapter 06: copy arrays from ``state`` into the parameters and buffers.

        Shapes must match exactly; with ``strict`` the names must match too.
        """
        params = dict(self.named_parameters())
        buffer_owners = {}
        for module_name, module in self.named_modules():
            for name, _ in module.named_buffers(module_name, recurse=False):
                buffer_owners[name] = (module, name.rsplit(".", 1)[-1])
        known = set(params) | set(buffer_owners)
        if strict:
            missing = sorted(known - set(state))
            unexpected = sorted(set(state) - known)
            if missing or unexpected:
                raise KeyError(
                    f"load_state_dict into {type(self).__name__}: missing keys {missing}, "
                    f"unexpected keys {unexpected}"
                )
        for name, value in state.items():
            value = np.asarray(value)
            if name in params:
                target = params[name]
                if target.shape != value.shape:
                    raise ValueError(
                        f"load_state_dict: parameter {name!r} has shape {target.shape} in the model "
                        f"but {value.shape} in the state"
                    )
                target.data = value.astype(target.dtype, copy=True)
            elif name in buffer_owners:
                module, key = buffer_owners[name]
                current = module._buffers[key]
                if current.shape != value.shape:
                    raise ValueError(
                        f"load_state_dict: buffer {name!r} has shape {current.shape} in the model "
                        f"but {value.shape} in the state"
                    )
                module._buffers[key] = value.astype(current.dtype, copy=True)

    # --------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> "Module":
        """Chapter 09: switch training behaviour (dropout, batch-norm statistics) on or off."""
        for module in self.modules():
            module.training = bool(mode)
        return self

    def eval(self) -> "Module":
        """Chapter 09: evaluation mode; same as ``train(False)``."""
        return self.train(False)

    @contextmanager
    def training_mode(self, mode: bool):
        """Chapter 09: ``with model.training_mode(False):`` runs the block in that mode.

        On leaving the block (also after an error) every module gets back its own flag, so a
        model with some layers deliberately left in evaluation mode (a frozen batch
        normalization in chapter 10) comes back exactly as it was.
        """
        saved = [(module, module.training) for module in self.modules()]
        self.train(mode)
        try:
            yield self
        finally:
            for module, flag in saved:
                module.training = flag

    def evaluating(self):
        """Chapter 09: ``with model.evaluating():`` runs the block in evaluation mode, then restores
        each module's own training flag (see :meth:`training_mode`)."""
        return self.training_mode(False)

    def zero_grad(self) -> None:
        """Chapter 06: clear the gradients of every parameter."""
        for p in self.parameters():
            p.grad = None

    def requires_grad_(self, flag: bool = True) -> "Module":
        """Chapter 10: freeze (False) or unfreeze (True) every parameter."""
        for p in self.parameters():
            p.requires_grad = bool(flag)
        return self

    def __repr__(self) -> str:
        children = [(n, v) for n, v in self._children_items() if isinstance(v, Module)]
        if not children:
            return f"{type(self).__name__}()"
        inner = "\n".join(f"  ({n}): " + repr(v).replace("\n", "\n  ") for n, v in children)
        return f"{type(self).__name__}(\n{inner}\n)"


class ModuleList(Module):
    """Chapter 11: an indexable list of modules whose parameters are registered."""

    def __init__(self, modules=()):
        self.items = list(modules)

    def __getitem__(self, i):
        return self.items[i]

    def __len__(self):
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    def append(self, module: Module) -> None:
        self.items.append(module)

    def _children_items(self):
        for i, item in enumerate(self.items):
            yield str(i), item
