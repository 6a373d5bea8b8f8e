"""Chapter 04: ``nnlib.optim`` -- optimizers and learning-rate schedules.

    from nnlib.optim import Adam, CosineAnnealingLR
    opt = Adam(model.parameters(), lr=1e-3)
    sched = CosineAnnealingLR(opt, T_max=100)
    for epoch in range(100):
        ...                      # loss.backward()
        opt.step(); opt.zero_grad()
        sched.step()

Optimizers and schedulers follow ``torch.optim`` (formulas, defaults, ``param_groups``,
``state_dict``); ``get('adam')`` builds one by name, with PyTorch's defaults too (only
``Model.compile(optimizer='adam')`` gives a name Keras' defaults, see ``nnlib.models``).
"""

from .clipping import clip_grad_norm, clip_grad_value
from .optimizers import OPTIMIZERS, SGD, Adam, AdamW, Optimizer, ParamState, RMSprop, get
from .schedules import (
    SCHEDULES,
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearWarmup,
    LRScheduler,
    StepLR,
    WarmupCosineLR,
    cosine_annealing_lr,
    exponential_lr,
    linear_warmup_lr,
    lr_at,
    lr_curve,
    step_lr,
    warmup_cosine,
    warmup_cosine_lr,
)

__all__ = [
    "Optimizer", "SGD", "RMSprop", "Adam", "AdamW", "ParamState", "get", "OPTIMIZERS",
    "LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "LinearWarmup", "LambdaLR",
    "WarmupCosineLR", "warmup_cosine", "step_lr", "exponential_lr", "cosine_annealing_lr",
    "linear_warmup_lr", "warmup_cosine_lr", "lr_at", "lr_curve", "SCHEDULES", "clip_grad_norm",
    "clip_grad_value",
]
