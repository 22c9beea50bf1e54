"""Temperature scaling: one scalar T fitted on validation logits, folded into the head.

The engine computes ``sigmoid(logit)`` (or softmax); dividing the final ``Linear`` layer's
weight and bias by T gives ``(Wx + b) / T``, so the exported bundle's probabilities are the
calibrated ones without any change to the engine.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.errors import RadLensError

T_RANGE = (0.05, 20.0)
"""Bounds of the fitted temperature."""


class CalibrationError(RadLensError):
    """Temperature scaling could not be fitted or folded."""


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, task: str = "multilabel", max_iter: int = 100) -> float:
    """Fit T > 0 minimising BCE (multi-label) or NLL (multi-class) of ``logits / T``.

    T is parametrised as ``exp(log_t)`` and optimised with LBFGS from T = 1.

    Args:
        logits: ``(N, C)`` validation logits.
        labels: ``(N, C)`` 0/1 labels (one-hot for multi-class).
        task: ``multilabel`` or ``multiclass``.
        max_iter: LBFGS iterations.

    Returns:
        The temperature (1.0 when there are no logits), clipped to :data:`T_RANGE`.
    """
    if logits.numel() == 0:
        return 1.0
    z = logits.detach().double()
    y = labels.detach().double()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def loss_fn() -> torch.Tensor:
        scaled = z / log_t.exp()
        if task == "multilabel":
            return F.binary_cross_entropy_with_logits(scaled, y)
        return F.cross_entropy(scaled, y.argmax(dim=1))

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    optimiser.step(closure)
    t = float(log_t.detach().exp())
    if not torch.isfinite(torch.tensor(t)) or t <= 0:
        raise CalibrationError(f"temperature scaling diverged (T = {t}).", fix="set train.calibrate: false.")
    # An uninformative model drives T to infinity (every probability 0.5): keep T in a sane range.
    return float(min(max(t, T_RANGE[0]), T_RANGE[1]))


def head_linear(module: nn.Module) -> nn.Linear:
    """The last ``nn.Linear`` of the network (the classifier head)."""
    last = None
    for child in module.modules():
        if isinstance(child, nn.Linear):
            last = child
    if last is None:
        raise CalibrationError("the network has no Linear head to fold the temperature into.",
                               fix="set train.calibrate: false for this architecture.")
    return last


def calibrated_probabilities(logits: torch.Tensor, temperature: float, task: str = "multilabel") -> torch.Tensor:
    """Probabilities of ``logits / temperature``: sigmoid (multi-label) or softmax (multi-class).

    Use it to apply a temperature fitted on a validation split (:func:`fit_temperature`) to the
    logits of a test split without folding it into a model.

    Raises:
        CalibrationError: If the temperature is not a positive finite number or the task is unknown.
    """
    t = float(temperature)
    if not (t > 0 and t < float("inf")):
        raise CalibrationError(f"temperature {temperature} is not a positive finite number.",
                               fix="use the value fit_temperature returned (1.0 means no scaling).")
    scaled = logits.detach().double() / t
    if task == "multilabel":
        return torch.sigmoid(scaled)
    if task == "multiclass":
        return torch.softmax(scaled, dim=1)
    raise CalibrationError(f"unknown task {task!r}.", fix="use 'multilabel' or 'multiclass'.")


@torch.no_grad()
def fold_temperature(module: nn.Module, temperature: float) -> None:
    """Divide the head's weight and bias by ``temperature`` in place (logits become logits / T)."""
    head = head_linear(module)
    head.weight.div_(temperature)
    if head.bias is not None:
        head.bias.div_(temperature)
