"""Learning-rate schedules for the LightningModules, built from transformers' ``get_*_schedule`` helpers.

``inverse_sqrt`` is the schedule of "Attention Is All You Need" (section 5.3): the rate rises linearly for
``warmup_steps`` and then decays with the inverse square root of the step. transformers' version peaks at the
optimizer's ``lr``; the paper's ``d_model**-0.5 * warmup_steps**-0.5`` is that peak (about 7e-4 for d_model 512 and
4000 warmup steps).
"""

from __future__ import annotations

from torch.optim import Optimizer
from transformers import (
    get_constant_schedule_with_warmup,
    get_cosine_schedule_with_warmup,
    get_inverse_sqrt_schedule,
    get_linear_schedule_with_warmup,
)

SCHEDULES = ("inverse_sqrt", "cosine", "linear", "constant")

__all__ = ["SCHEDULES", "build_scheduler"]


def build_scheduler(optimizer: Optimizer, name: str, warmup_steps: int | float, total_steps: int) -> dict:
    """A Lightning ``lr_scheduler`` dict (stepped every optimizer step) for ``configure_optimizers``.

    Args:
        name: ``inverse_sqrt`` (the paper's), ``cosine`` or ``linear`` (to zero at ``total_steps``), ``constant``.
        warmup_steps: steps of linear warm-up from 0 to the optimizer's ``lr``; a float below 1 is a fraction of
            ``total_steps`` (``0.05``: the first 5% of the run).
        total_steps: length of the run in optimizer steps (``trainer.estimated_stepping_batches``); used by
            ``cosine`` and ``linear``.

    Example::

        >>> import torch
        >>> optimizer = torch.optim.AdamW(torch.nn.Linear(2, 2).parameters(), lr=1e-3)
        >>> schedule = build_scheduler(optimizer, "inverse_sqrt", warmup_steps=10, total_steps=100)
        >>> schedule["interval"], round(schedule["scheduler"].lr_lambdas[0](40), 3)
        ('step', 0.5)
        >>> cosine = build_scheduler(optimizer, "cosine", warmup_steps=0.1, total_steps=100)  # 10 warm-up steps
        >>> round(cosine["scheduler"].lr_lambdas[0](5), 3)
        0.5
    """
    if name not in SCHEDULES:
        raise ValueError(f"Unknown schedule {name!r}; choose one of {list(SCHEDULES)}")
    if warmup_steps < 0:
        raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps}")
    if isinstance(warmup_steps, float) and warmup_steps < 1:
        if warmup_steps > 0 and total_steps <= 0:
            raise ValueError(f"warmup_steps={warmup_steps} is a fraction of the run, whose length is unknown; set "
                             "trainer.max_steps or max_epochs, or give warmup_steps as a number of steps")
        warmup_steps = int(warmup_steps * total_steps)
    elif warmup_steps != int(warmup_steps):
        raise ValueError(f"warmup_steps={warmup_steps}: give a whole number of steps, or a fraction below 1")
    warmup_steps = int(warmup_steps)
    if name in ("cosine", "linear") and total_steps <= warmup_steps:
        raise ValueError(
            f"The {name} schedule needs total_steps ({total_steps}) > warmup_steps ({warmup_steps}); "
            f"set trainer.max_steps or max_epochs, or lower warmup_steps"
        )
    if name == "inverse_sqrt":
        # timescale=warmup makes the decay continue from the warm-up's peak: lr * sqrt(warmup / step).
        scheduler = get_inverse_sqrt_schedule(optimizer, num_warmup_steps=warmup_steps, timescale=max(warmup_steps, 1))
    elif name == "cosine":
        scheduler = get_cosine_schedule_with_warmup(optimizer, warmup_steps, total_steps)
    elif name == "linear":
        scheduler = get_linear_schedule_with_warmup(optimizer, warmup_steps, total_steps)
    else:
        scheduler = get_constant_schedule_with_warmup(optimizer, warmup_steps)
    return {"scheduler": scheduler, "interval": "step", "frequency": 1, "name": f"lr-{name}"}
