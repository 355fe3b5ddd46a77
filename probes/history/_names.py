"""What a logged name measures: 'val_loss' is a validation loss, 'eval_accuracy' a validation metric.

Every reader calls `classify` on its column, key or tag names, so 'which data is this curve on' is
decided in one place. Names are split into lower-case tokens ("train/loss_epoch" -> train, loss, epoch).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from probes.history._models import Role, Split

_LOSS = {"loss", "nll", "crossentropy", "xent", "objective"}
_NOT_A_LOSS = {"scale", "scaler", "weight", "weights", "coef"}  # fp16 loss scale, loss weights
_VAL = {"val", "valid", "validation", "eval", "evaluation", "dev"}
_TEST = {"test", "testing", "holdout"}
_TRAIN = {"train", "training"}
_HIGHER = {"accuracy", "acc", "f1", "precision", "recall", "auc", "auroc", "dice", "iou", "map", "bleu"}
_HIGHER |= {"rouge", "r2", "top1", "top5", "jaccard", "mcc", "io"}
_LOWER = {"wer", "cer", "mae", "mse", "rmse", "mape", "smape", "perplexity", "ppl", "error", "err"}
_IGNORE = {"runtime", "flos", "timestamp", "time", "seconds", "memory", "number", "tokens", "samples"}
_AXES = {"epoch", "step", "steps", "global_step", "iteration", "iter", "batch", "_step", "_epoch"}
_AXIS_TOKENS = _TRAIN | _VAL | _TEST | {"epoch", "epochs", "step", "steps", "global", "iteration", "iter"}


@dataclass(frozen=True)
class Kind:
    role: Role
    split: Split
    higher_is_better: bool | None = None


def tokens(name: str) -> list[str]:
    # split camelCase too, so 'valLoss' reads as val + loss
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return [t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t]


def is_axis(name: str) -> bool:
    return name.strip().lower() in _AXES


def _split_of(toks: list[str]) -> Split:
    if any(t in _TEST for t in toks):
        return "test"
    if any(t in _VAL for t in toks):
        return "val"
    return "train"


def classify(name: str) -> Kind | None:
    """The role and split of a logged name, or None when it is not a training curve (runtime, lr of a
    scheduler we do not analyse is still kept as learning_rate)."""
    toks = tokens(name)
    if not toks or is_axis(name) or all(t in _AXIS_TOKENS for t in toks):
        return None  # 'train/epoch', 'global_step': positions, not curves
    joined = "_".join(toks)
    if "grad" in toks and "norm" in toks or joined in {"gradient_norm", "grad_norm"}:
        return Kind("grad_norm", "train")
    if joined in {"lr", "learning_rate"} or toks[0] == "lr" or "learning_rate" in joined:
        return Kind("learning_rate", "train")
    if any(t in _IGNORE for t in toks) or "per_second" in joined:
        return None
    if any(t in _LOSS for t in toks) or "cross_entropy" in joined:
        if any(t in _NOT_A_LOSS for t in toks):
            return None
        return Kind("loss", _split_of(toks))
    if any(t in _HIGHER for t in toks):
        return Kind("metric", _split_of(toks), True)
    if any(t in _LOWER for t in toks):
        return Kind("metric", _split_of(toks), False)
    return Kind("metric", _split_of(toks), None)
