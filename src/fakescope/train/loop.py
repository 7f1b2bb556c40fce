"""The one training loop of every PyTorch model in fakescope: the end-to-end detector networks,
their auxiliary stages (the resynthesis restorers), the spectrum CNN head and the localizers.

A caller says what a batch is and what the loss of a batch is; the loop owns the optimiser
(AdamW), the learning-rate schedule, mixed precision on a GPU, train/eval mode and progress lines.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any


def device():
    """The device to train and run networks on: ``FAKESCOPE_DEVICE`` if set, else CUDA when visible, else CPU."""
    import torch

    name = os.environ.get("FAKESCOPE_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def describe_device(dev) -> str:
    """``cpu`` or ``cuda:0 (NVIDIA H100 ...)``, as cards record it."""
    import torch

    return str(dev) if dev.type == "cpu" else f"{dev} ({torch.cuda.get_device_name(dev)})"


def fit(
    net,
    batches: Callable[[int], Iterable[Any]],
    loss: Callable[[Any, Any], Any],
    *,
    epochs: int,
    steps_per_epoch: int,
    lr: float,
    weight_decay: float = 1e-4,
    schedule: str = "onecycle",
    params=None,
    log: Callable[[str], None] | None = None,
    name: str = "",
) -> float:
    """Train ``net`` in place and leave it in eval mode; returns the last batch's loss.

    Args:
        net: a ``torch.nn.Module`` already on its device.
        batches: ``batches(epoch)`` yields the epoch's batches, whatever ``loss`` accepts.
        loss: ``loss(net, batch)`` -> scalar tensor (the forward pass happens here).
        epochs, steps_per_epoch: the schedule's length (``steps_per_epoch`` bounds the one-cycle
            schedule; an epoch may yield fewer batches).
        lr: peak learning rate (one-cycle) or the constant one.
        weight_decay: AdamW's decoupled weight decay.
        schedule: ``"onecycle"`` (15% warm-up, cosine decay) or ``"constant"``.
        params: the parameters to optimise; default every parameter that requires a gradient.
        log: receives one line per epoch.
        name: what the progress lines call the model.
    """
    import torch

    params = [p for p in (params if params is not None else net.parameters()) if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if schedule == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(1, epochs * steps_per_epoch),
                                                    pct_start=0.15)  # fmt: skip
    elif schedule == "constant":
        sched = None
    else:
        raise ValueError(f"schedule must be 'onecycle' or 'constant', not {schedule!r}")
    dev_type = next(net.parameters()).device.type
    last = float("nan")
    net.train()
    for epoch in range(epochs):
        steps = 0
        for batch in batches(epoch):
            if steps >= steps_per_epoch:
                break
            with torch.autocast(dev_type, dtype=torch.bfloat16, enabled=dev_type == "cuda"):
                value = loss(net, batch)
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            if sched is not None:
                sched.step()
            steps += 1
            last = float(value.detach())
        if log:
            log(f"{name}: epoch {epoch + 1}/{epochs}, loss {last:.3f}")
    net.eval()
    return last
