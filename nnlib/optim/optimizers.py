"""Chapter 04: optimizers -- SGD (with momentum and Nesterov), RMSprop, Adam and AdamW.

Every optimizer follows PyTorch's ``torch.optim`` formulas and defaults exactly, so a
training run in nnlib and the same run in PyTorch take the same steps (the tests check
this to 1e-8 over 50 steps).  An optimizer only needs two things from a parameter:
``.data`` (an ndarray, updated in place) and ``.grad`` (an ndarray or ``None``; a
parameter whose ``.grad`` is ``None`` is skipped).

Speed matters here: ``step()`` is the inner loop of every training run.  The updates
are written with NumPy's in-place operations (``out=``, ``*=``), the state buffers are
allocated once, each parameter owns at most two scratch buffers that are reused on every
step, and every scalar coefficient is a Python ``float`` so that float32 parameters stay
float32 (NumPy 2 would promote a float32 array combined with a ``np.float64`` scalar).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any, Callable

import numpy as np

__all__ = ["Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "ParamState", "get", "OPTIMIZERS"]


class ParamState(MutableMapping):
    """Chapter 04: a dict keyed by parameter *identity* (``optimizer.state[p]``).

    Tensors compare element-wise, so they cannot be ordinary dict keys; this mapping
    looks parameters up by ``id`` and keeps a reference to each one so the id stays valid.
    """

    def __init__(self) -> None:
        self._items: dict[int, tuple[Any, dict]] = {}

    def __getitem__(self, param: Any) -> dict:
        try:
            return self._items[id(param)][1]
        except KeyError:
            raise KeyError("this parameter has no optimizer state yet") from None

    def __setitem__(self, param: Any, value: dict) -> None:
        self._items[id(param)] = (param, value)

    def __delitem__(self, param: Any) -> None:
        del self._items[id(param)]

    def __contains__(self, param: object) -> bool:
        return id(param) in self._items

    def __iter__(self) -> Iterator[Any]:
        return (p for p, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def get(self, param: Any, default: Any = None) -> Any:
        """Chapter 04: the state of ``param``, or ``default`` when it has none."""
        item = self._items.get(id(param))
        return default if item is None else item[1]

    def __deepcopy__(self, memo) -> "ParamState":
        # keyed by id: a copy is keyed by the ids of the copied parameters (a copied model's optimizer keeps its state)
        new = type(self)()
        memo[id(self)] = new
        for param, value in self._items.values():
            new[copy.deepcopy(param, memo)] = copy.deepcopy(value, memo)
        return new

    def __repr__(self) -> str:
        return f"ParamState({len(self)} parameters)"


def _is_param_like(obj: Any) -> bool:
    return hasattr(obj, "data") and hasattr(obj, "grad") and isinstance(obj.data, np.ndarray)


def _is_finite_number(value) -> bool:
    return (isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
            and math.isfinite(value))


def _check_lr(lr, who: str) -> None:
    """A ValueError unless ``lr`` is a finite number >= 0 (NaN, inf, negatives and non-numbers are refused)."""
    if not _is_finite_number(lr) or lr < 0.0:
        raise ValueError(f"{who}: invalid learning rate lr={lr!r}; it must be a finite number >= 0, e.g. lr=1e-3")


class Optimizer:
    """Chapter 04: base class of all optimizers (the ``torch.optim.Optimizer`` interface).

    ``params`` is an iterable of parameters, or a list of *param groups*: dicts like
    ``{"params": [...], "lr": 0.01}`` whose missing hyperparameters come from
    ``defaults``.  ``params`` may also be ``None``: the optimizer then starts empty and
    parameters are added later with :meth:`add_param_group` (this is how ``compile``
    attaches ``Adam(lr=...)`` to a model).

    The naming rule (``nnlib/__init__.py``): ``nnlib.optim`` follows torch, so the learning
    rate is ``lr`` only; Keras's ``learning_rate=`` keyword is refused (a ``TypeError``), and
    there is no ``.learning_rate`` attribute either (torch has none): read or set
    ``optimizer.lr`` (every group) or ``optimizer.param_groups[i]["lr"]``, as the Keras-style
    ``callbacks.LearningRateScheduler`` does (it records the rate under Keras's log key
    ``"learning_rate"``; that is a log entry, not an optimizer attribute).

    Subclasses implement ``_update(group, param, grad, state, scratch)`` for one parameter.
    """

    #: Chapter 04: the state entries that are plain numbers (everything else is an array shaped like
    #: the param); a model file's optimizer state is checked against it
    scalar_state: tuple[str, ...] = ("step",)
    #: how many scratch buffers each parameter needs
    _n_scratch: int = 2

    def __init__(self, params: Iterable[Any] | Iterable[dict] | None, defaults: dict) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state = ParamState()
        self._scratch = ParamState()
        self.validate_group(self.defaults, where="defaults")
        if params is None:
            return
        if _is_param_like(params) or isinstance(params, np.ndarray):
            raise TypeError(
                f"{type(self).__name__}: params should be an iterable of parameters or of "
                f"param-group dicts, got a single {type(params).__name__}; "
                "wrap it in a list: [param]"
            )
        if isinstance(params, dict):
            params = [params]
        params = list(params)
        if not params:
            raise ValueError(
                f"{type(self).__name__} got an empty parameter list "
                "(does the model have parameters, and are any of them trainable?)"
            )
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    # ----------------------------------------------------------------- param groups
    def add_param_group(self, param_group: dict) -> None:
        """Chapter 04: add a group of parameters, with its own hyperparameters if given."""
        if not isinstance(param_group, dict):
            raise TypeError(
                f"{type(self).__name__}.add_param_group expects a dict like "
                f"{{'params': [...], 'lr': 0.01}}, got {type(param_group).__name__}"
            )
        if "params" not in param_group:
            raise ValueError(f"{type(self).__name__}: a param group needs a 'params' entry")
        params = param_group["params"]
        if _is_param_like(params):
            params = [params]
        else:
            params = list(params)
        for i, p in enumerate(params):
            if not _is_param_like(p):
                raise TypeError(
                    f"{type(self).__name__}: parameter {i} of group {len(self.param_groups)} is a "
                    f"{type(p).__name__}; optimizers update nnlib Parameters/Tensors "
                    "(objects with an ndarray .data and a .grad)"
                )
            if not np.issubdtype(p.data.dtype, np.floating):
                raise TypeError(
                    f"{type(self).__name__}: parameter {i} has dtype {p.data.dtype}; "
                    "only floating-point parameters can be optimized"
                )
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or any(id(p) in seen for p in params):
            raise ValueError(
                f"{type(self).__name__}: a parameter appears more than once "
                "(each parameter may belong to only one param group)"
            )
        group = dict(self.defaults)
        group.update(param_group)
        group["params"] = params
        self.validate_group(group, where=f"param group {len(self.param_groups)}")
        self.param_groups.append(group)

    def validate_group(self, group: dict, where: str) -> None:
        """Chapter 04: check a param group's hyperparameters (a ValueError naming ``where``); subclasses
        extend it. ``load_model`` runs it on the groups a model file restores."""
        name = type(self).__name__
        _check_lr(group.get("lr", 0.0), f"{name} ({where})")
        for key in ("weight_decay", "eps", "momentum"):
            value = group.get(key, 0.0)
            if not _is_finite_number(value) or value < 0.0:
                raise ValueError(f"{name} ({where}): invalid {key}={value!r}; it must be a finite number >= 0")

    # ----------------------------------------------------------------- learning rate
    @property
    def lr(self) -> float:
        """Chapter 04: the learning rate (shared by all groups); setting it sets every group's."""
        lrs = [g["lr"] for g in self.param_groups]
        if not lrs:
            return self.defaults["lr"]
        if any(lr != lrs[0] for lr in lrs):
            raise AttributeError(
                f"{type(self).__name__}.lr is ambiguous: the param groups have different learning "
                f"rates {lrs}; read or set optimizer.param_groups[i]['lr'] instead"
            )
        return lrs[0]

    @lr.setter
    def lr(self, value: float) -> None:
        _check_lr(value, type(self).__name__)
        value = float(value)
        self.defaults["lr"] = value
        for g in self.param_groups:
            g["lr"] = value

    # ----------------------------------------------------------------- stepping
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Chapter 04: clear every parameter's gradient (``None`` by default, or zeros).

        With ``set_to_none=False`` a gradient becomes a fresh zero array rather than being
        zeroed in place: autograd may hand the same array to several parameters.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad = np.zeros_like(p.data)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Chapter 04: update every parameter that has a gradient; returns ``closure()`` if given."""
        loss = closure() if closure is not None else None
        if not self.param_groups:
            raise RuntimeError(
                f"{type(self).__name__}.step(): the optimizer has no parameters; create it with "
                "model.parameters() or call add_param_group({'params': ...}) first"
            )
        state_of = self.state.get
        for gi, group in enumerate(self.param_groups):
            for pi, p in enumerate(group["params"]):
                grad = p.grad
                if grad is None:
                    continue
                if not isinstance(grad, np.ndarray):
                    grad = np.asarray(grad)
                data = p.data
                if grad.shape != data.shape:
                    raise ValueError(
                        f"{type(self).__name__}.step(): parameter {pi} of param group {gi} has shape "
                        f"{data.shape} but its gradient has shape {grad.shape}; they must match"
                    )
                state = state_of(p)
                if state is None:
                    state = {}
                    self.state[p] = state
                scratch = self._scratch.get(p)
                if scratch is None or scratch[0].shape != data.shape or scratch[0].dtype != data.dtype:
                    scratch = [np.empty_like(data) for _ in range(self._n_scratch)]
                    self._scratch[p] = scratch
                self._update(group, p, grad, state, scratch)
        return loss

    def _update(self, group: dict, p: Any, grad: np.ndarray, state: dict, scratch: list) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _update")

    @staticmethod
    def _buffer(state: dict, key: str, data: np.ndarray) -> np.ndarray:
        """A zero-initialised state buffer shaped like ``data`` (allocated once)."""
        buf = state.get(key)
        if buf is None:
            buf = np.zeros_like(data)
            state[key] = buf
        elif buf.shape != data.shape:
            raise ValueError(
                f"optimizer state '{key}' has shape {buf.shape} but the parameter now has shape "
                f"{data.shape}; was param.data replaced by an array of another shape?"
            )
        return buf

    @staticmethod
    def _effective_grad(data: np.ndarray, grad: np.ndarray, weight_decay: float, maximize: bool,
                        out: np.ndarray) -> np.ndarray:
        """``(-grad if maximize else grad) + weight_decay * data``, written into ``out`` if needed."""
        if weight_decay != 0.0:
            np.multiply(data, weight_decay, out=out)
            if maximize:
                np.subtract(out, grad, out=out)
            else:
                np.add(out, grad, out=out)
            return out
        if maximize:
            np.negative(grad, out=out)
            return out
        return grad

    # ----------------------------------------------------------------- saving
    def state_dict(self) -> dict:
        """Chapter 04: a plain-dict snapshot (copies) of the state and hyperparameters.

        Parameters are referenced by their position (counted across groups), as in
        PyTorch: ``{"state": {0: {"step": 3, "exp_avg": array, ...}}, "param_groups":
        [{"lr": 0.001, ..., "params": [0, 1]}]}``.
        """
        state: dict[int, dict] = {}
        groups = []
        index = 0
        for group in self.param_groups:
            packed = {k: (tuple(v) if isinstance(v, list) else v) for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                st = self.state.get(p)
                if st:
                    state[index] = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in st.items()}
                ids.append(index)
                index += 1
            packed["params"] = ids
            groups.append(packed)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Chapter 04: restore a :meth:`state_dict` (also one that went through JSON or npz)."""
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: the saved state has {len(saved_groups)} param groups, "
                f"this optimizer has {len(self.param_groups)}"
            )
        index_to_param: dict[int, Any] = {}
        for gi, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: param group {gi} has {len(group['params'])} parameters "
                    f"but the saved group has {len(saved['params'])}"
                )
            for idx, p in zip(saved["params"], group["params"]):
                index_to_param[int(idx)] = p
        new_state = ParamState()
        for key, saved_state in state_dict.get("state", {}).items():
            p = index_to_param.get(int(key))
            if p is None:
                raise ValueError(f"{name}.load_state_dict: state for unknown parameter index {key}")
            st = {}
            for k, v in saved_state.items():
                if k in self.scalar_state:
                    st[k] = int(np.asarray(v).item()) if k == "step" else np.asarray(v).item()
                else:
                    arr = np.array(v, dtype=p.data.dtype)
                    if arr.shape != p.data.shape:
                        raise ValueError(
                            f"{name}.load_state_dict: state '{k}' of parameter {key} has shape "
                            f"{arr.shape}, the parameter has shape {p.data.shape}"
                        )
                    st[k] = arr
            new_state[p] = st
        for saved, group in zip(saved_groups, self.param_groups):
            for k, v in saved.items():
                if k == "params":
                    continue
                if isinstance(v, np.ndarray):
                    v = v.item() if v.ndim == 0 else tuple(v.tolist())
                elif isinstance(v, list):
                    v = tuple(v)
                group[k] = v
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        if not self.param_groups:
            lines.append("No parameters yet; defaults:")
            lines.extend(f"    {k}: {self.defaults[k]}" for k in sorted(self.defaults))
        lines.append(")")
        return "\n".join(lines)


class SGD(Optimizer):
    """Chapter 04: stochastic gradient descent with optional momentum, Nesterov and weight decay.

    With ``g`` the gradient (negated if ``maximize``) plus ``weight_decay * w``::

        b = g                                  (first step)
        b = momentum * b + (1 - dampening) * g (later steps)
        g = g + momentum * b if nesterov else b
        w = w - lr * g

    Same formulas and defaults as ``torch.optim.SGD``.
    """

    def __init__(self, params: Iterable[Any] | None = None, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def validate_group(self, group: dict, where: str) -> None:
        super().validate_group(group, where)
        if group.get("nesterov") and (group.get("momentum", 0.0) <= 0.0 or group.get("dampening", 0.0) != 0.0):
            raise ValueError(
                f"SGD ({where}): Nesterov momentum needs momentum > 0 and dampening = 0 "
                f"(got momentum={group.get('momentum')}, dampening={group.get('dampening')})"
            )

    def _update(self, group, p, grad, state, scratch):
        lr = float(group["lr"])
        momentum = float(group["momentum"])
        data = p.data
        s, gbuf = scratch
        g = self._effective_grad(data, grad, float(group["weight_decay"]), bool(group["maximize"]), gbuf)
        if momentum != 0.0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = np.array(g, dtype=data.dtype, copy=True)
                state["momentum_buffer"] = buf
            else:
                buf *= momentum
                dampening = float(group["dampening"])
                if dampening != 0.0:
                    np.multiply(g, 1.0 - dampening, out=s)
                    buf += s
                else:
                    buf += g
            if group["nesterov"]:
                np.multiply(buf, momentum, out=s)
                s += g
                g = s
            else:
                g = buf
        np.multiply(g, lr, out=s)
        data -= s


class RMSprop(Optimizer):
    """Chapter 04: RMSprop -- divide the step by a running root-mean-square of the gradients.

    ::

        v = alpha * v + (1 - alpha) * g**2
        avg = sqrt(v - gbar**2) + eps  with gbar = alpha * gbar + (1 - alpha) * g  (centered)
        avg = sqrt(v) + eps                                                       (otherwise)
        b = momentum * b + g / avg;  w = w - lr * b   (momentum > 0)
        w = w - lr * g / avg                          (momentum = 0)

    Same formulas and defaults as ``torch.optim.RMSprop``.
    """

    def __init__(self, params: Iterable[Any] | None = None, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def validate_group(self, group: dict, where: str) -> None:
        super().validate_group(group, where)
        alpha = group.get("alpha", 0.99)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"RMSprop ({where}): invalid alpha={alpha!r}; it must be in [0, 1]")

    def _update(self, group, p, grad, state, scratch):
        lr = float(group["lr"])
        alpha = float(group["alpha"])
        eps = float(group["eps"])
        momentum = float(group["momentum"])
        data = p.data
        s, gbuf = scratch
        g = self._effective_grad(data, grad, float(group["weight_decay"]), bool(group["maximize"]), gbuf)
        state["step"] = state.get("step", 0) + 1
        square_avg = self._buffer(state, "square_avg", data)
        square_avg *= alpha
        np.multiply(g, g, out=s)
        s *= 1.0 - alpha
        square_avg += s
        if group["centered"]:
            grad_avg = self._buffer(state, "grad_avg", data)
            grad_avg *= alpha
            np.multiply(g, 1.0 - alpha, out=s)
            grad_avg += s
            np.multiply(grad_avg, grad_avg, out=s)
            np.subtract(square_avg, s, out=s)
            np.sqrt(s, out=s)
        else:
            np.sqrt(square_avg, out=s)
        s += eps
        np.divide(g, s, out=s)
        if momentum > 0.0:
            buf = self._buffer(state, "momentum_buffer", data)
            buf *= momentum
            buf += s
            np.multiply(buf, lr, out=s)
        else:
            s *= lr
        data -= s


class Adam(Optimizer):
    """Chapter 04: Adam -- momentum on the gradient and on its square, with bias correction.

    The seed's formulas (section 4.4)::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        w = w - lr * m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - beta1**t), v_hat = v / (1 - beta2**t)

    computed in PyTorch's arrangement ``w -= (lr / (1 - beta1**t)) * m / (sqrt(v) /
    sqrt(1 - beta2**t) + eps)``, which is the same formula.  ``weight_decay`` adds
    ``weight_decay * w`` to the gradient (L2 regularisation); ``amsgrad`` uses the running
    maximum of ``v``.  Same formulas and defaults as ``torch.optim.Adam`` (note: Keras's
    default ``eps`` is 1e-7, nnlib follows PyTorch's 1e-8).
    """

    _decoupled = False

    def __init__(self, params: Iterable[Any] | None = None, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 amsgrad: bool = False, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize)
        super().__init__(params, defaults)

    def validate_group(self, group: dict, where: str) -> None:
        super().validate_group(group, where)
        betas = group.get("betas", (0.9, 0.999))
        name = type(self).__name__
        if len(betas) != 2:
            raise ValueError(f"{name} ({where}): betas must be a pair (beta1, beta2), got {betas!r}")
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"{name} ({where}): invalid beta{i + 1}={b!r}; it must be in [0, 1)")

    def _update(self, group, p, grad, state, scratch):
        lr = float(group["lr"])
        beta1, beta2 = (float(b) for b in group["betas"])
        eps = float(group["eps"])
        weight_decay = float(group["weight_decay"])
        data = p.data
        s, gbuf = scratch
        if self._decoupled:
            g = self._effective_grad(data, grad, 0.0, bool(group["maximize"]), gbuf)
            if weight_decay != 0.0:
                data *= 1.0 - lr * weight_decay
        else:
            g = self._effective_grad(data, grad, weight_decay, bool(group["maximize"]), gbuf)
        t = state.get("step", 0) + 1
        state["step"] = t
        exp_avg = self._buffer(state, "exp_avg", data)
        exp_avg_sq = self._buffer(state, "exp_avg_sq", data)
        # m = beta1 * m + (1 - beta1) * g
        exp_avg *= beta1
        np.multiply(g, 1.0 - beta1, out=s)
        exp_avg += s
        # v = beta2 * v + (1 - beta2) * g * g
        exp_avg_sq *= beta2
        np.multiply(g, g, out=s)
        s *= 1.0 - beta2
        exp_avg_sq += s
        bias_correction1 = 1.0 - beta1 ** t
        bias_correction2_sqrt = math.sqrt(1.0 - beta2 ** t)
        step_size = lr / bias_correction1
        if group["amsgrad"]:
            vmax = self._buffer(state, "max_exp_avg_sq", data)
            np.maximum(vmax, exp_avg_sq, out=vmax)
            np.sqrt(vmax, out=s)
        else:
            np.sqrt(exp_avg_sq, out=s)
        s /= bias_correction2_sqrt
        s += eps
        np.divide(exp_avg, s, out=s)
        s *= step_size
        data -= s


class AdamW(Adam):
    """Chapter 04: AdamW -- Adam with *decoupled* weight decay.

    Instead of adding ``weight_decay * w`` to the gradient, each step first shrinks the
    weights, ``w = w * (1 - lr * weight_decay)``, then takes the plain Adam step.  Same
    formulas and defaults as ``torch.optim.AdamW`` (``weight_decay=1e-2``).
    """

    _decoupled = True

    def __init__(self, params: Iterable[Any] | None = None, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False, *, maximize: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize)


#: Keras-style names accepted by :func:`get`
OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "rmsprop": RMSprop, "adam": Adam, "adamw": AdamW}


def get(identifier: str | Optimizer | type[Optimizer], params: Iterable[Any] | None = None,
        **kwargs: Any) -> Optimizer:
    """Chapter 04: turn ``'adam'`` (or a class, or an optimizer) into an optimizer instance.

    ``get('adam', lr=0.01)`` returns ``Adam(lr=0.01)`` (parameters can be attached later
    with ``add_param_group``); ``get('sgd', model.parameters(), lr=0.1)`` binds them now.
    Unset hyperparameters get PyTorch's defaults (``get('adam')`` has eps=1e-8), as the
    classes do; ``Model.compile(optimizer='adam')`` alone uses Keras' (chapter 07).
    The learning rate is torch's ``lr`` (``learning_rate=`` is refused, pointing to ``lr``).
    An optimizer instance is returned unchanged.
    """
    if "learning_rate" in kwargs:
        raise TypeError("get(): nnlib.optim follows torch, so the learning rate is lr=, not Keras's "
                        "learning_rate= (write get('adam', lr=...))")
    if isinstance(identifier, Optimizer):
        if kwargs or params is not None:
            raise TypeError(
                "get(): an optimizer instance was given, so params/keyword arguments cannot be applied; "
                "pass a name like 'adam' to build a new one"
            )
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier(params, **kwargs)
    if isinstance(identifier, str):
        key = identifier.lower().replace("_", "").replace("-", "")
        cls = OPTIMIZERS.get(key)
        if cls is None:
            raise ValueError(
                f"unknown optimizer {identifier!r}; valid names are {sorted(OPTIMIZERS)}"
            )
        return cls(params, **kwargs)
    raise TypeError(
        f"get(): expected an optimizer name {sorted(OPTIMIZERS)}, an Optimizer class or instance, "
        f"got {type(identifier).__name__}"
    )
