"""Overfitting or mismatch? Losses on training, validation and test data, and a train-vs-test check.

The lecture: training loss small and test loss large is overfitting when a validation split drawn
FROM THE TRAINING DATA is bad too, and mismatch when that validation split is fine (the test data
come from another distribution). Three measurements, all on the user's trained model:

- every split's loss with its standard error (batch means over 50 random chunks), next to the
  trivial predictor's loss on the same split (fitted on training targets only);
- when the setup has no validation split and the test loss is large, the user's recipe is trained
  once more on 80% of the training data and scored on the other 20%;
- a two-sample check: a logistic regression on the inputs (and their squares) learns to tell
  training inputs from test inputs; its held-out AUC is about 0.5 when they come from one distribution.

Without a test set, test_set_available = no and the validation split alone is judged (overfitting
or not); test_loss_large stays "unsure" and mismatch cannot be checked.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from probes.base import AnswerValue, ProbeError, ProbeOutcome
from probes.baselines import (
    EVAL_SAMPLES,
    LARGE_FRACTION,
    compute_baselines,
    json_safe,
    model_outputs,
    trivial_loss_on,
)
from probes.context import ProbeContext, use_executor
from probes.setup import DataLike, Setup, as_dataset, tensors
from probes.training import TrainedModel, train_model
from probes.trainings import executor_json, run_training, setup_training
from rules.judgements import GAP_Z, held_out_large

# The train-vs-test AUC counts as shifted beyond Z standard errors of 0.5 (the held-out rule's Z).
Z = GAP_Z
CHUNKS = 50
HOLDOUT_FRACTION = 0.2
TWO_SAMPLE_MAX = 1000  # inputs per side for the train-vs-test classifier
TWO_SAMPLE_MIN = 20
TWO_SAMPLE_FEATURES = 1024


@dataclass
class SplitLoss:
    name: str
    loss: float
    se: float  # standard error of `loss` from the spread of chunk means
    samples: int
    trivial: float  # the training-fitted trivial predictor on this split

    @property
    def fraction(self) -> float:
        return self.loss / self.trivial if self.trivial > 0 else math.inf


def split_loss(
    setup: Setup, model: nn.Module, data: DataLike, what: str, trivial: float, seed: int = 0
) -> SplitLoss:
    """Mean loss over (up to EVAL_SAMPLES of) `data` and its standard error by batch means."""
    x, y = tensors(data, EVAL_SAMPLES, what)
    outputs = model_outputs(model, x)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    chunks = [c for c in order.chunk(min(CHUNKS, len(x))) if len(c)]
    values, sizes = [], []
    for idx in chunks:
        try:
            values.append(float(setup.loss(outputs[idx], y[idx])))
        except Exception as exc:
            raise ProbeError(f"the loss failed on {what} outputs {tuple(outputs.shape)}: {exc}") from exc
        sizes.append(len(idx))
    arr, w = np.array(values), np.array(sizes, dtype=float)
    mean = float((arr * w).sum() / w.sum())
    se = float(arr.std(ddof=1) / math.sqrt(len(arr))) if len(arr) >= 2 else math.inf
    return SplitLoss(what, mean, se, len(x), trivial)


def decide_split(split: SplitLoss, train: SplitLoss, target: float | None) -> tuple[AnswerValue, str]:
    """Is this split's loss large? The one rule for held-out losses (rules/judgements.py)."""
    j = held_out_large(
        split.loss, train.loss, split.trivial, split.se, train.se, target=target, name=split.name
    )
    return j.verdict, j.reason


# -- the validation split ----------------------------------------------------------------------------


def _subset(data: DataLike, idx: torch.Tensor, setup: Setup) -> DataLike:
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        return (data[0][idx], data[1][idx])
    dataset: Dataset = as_dataset(data)
    subset = Subset(dataset, idx.tolist())
    if isinstance(data, DataLoader):
        return DataLoader(
            subset,
            batch_size=data.batch_size or setup.batch_size,
            shuffle=True,
            collate_fn=data.collate_fn,
            drop_last=data.drop_last,
        )
    return subset


def holdout_split(ctx: ProbeContext) -> tuple[TrainedModel, DataLike, DataLike]:
    """Train the user's recipe on 80% of the training data; return it with its fit and held-out parts."""
    setup = ctx.setup
    try:
        n = len(as_dataset(setup.train))  # type: ignore[arg-type]  # torch types Dataset without __len__; these are sized (as_dataset checks)
    except TypeError as exc:
        raise ProbeError("cannot hold out a validation split: the training data has no length") from exc
    held = max(1, int(round(HOLDOUT_FRACTION * n)))
    if n - held < 1:
        raise ProbeError(f"too few training samples ({n}) to hold out a validation split")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(setup.seed))
    fit_data, held_data = _subset(setup.train, order[held:], setup), _subset(setup.train, order[:held], setup)

    def train() -> TrainedModel:
        ctx.trainings += 1
        reduced = setup.model_copy(update={"train": fit_data, "val": None})
        if ctx.executor.is_local:
            return train_model(reduced, progress=ctx.progress, should_stop=ctx.should_stop, series="holdout")
        training = setup_training(reduced, "held-out retraining", series="holdout")
        return run_training(training, ctx.executor, should_stop=ctx.should_stop)

    return ctx.cached("generalization:holdout", train), fit_data, held_data


# -- the two-sample check ---------------------------------------------------------------------------


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve by ranks (Mann-Whitney), ties counted half."""
    scores = np.concatenate([positive, negative])
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based, ties share their mean rank
    ranks = average_rank[inverse]
    n1, n2 = len(positive), len(negative)
    return float((ranks[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n2))


def null_auc_se(n1: int, n2: int) -> float:
    """Standard error of the AUC when both samples come from one distribution."""
    return math.sqrt((n1 + n2 + 1) / (12 * n1 * n2))


def two_sample_check(a: torch.Tensor, b: torch.Tensor, seed: int = 0) -> dict[str, Any]:
    """Can a classifier tell inputs `b` (test) from inputs `a` (training)? Held-out AUC and its null."""
    if not torch.is_floating_point(a) or not torch.is_floating_point(b):
        return {"skipped": f"inputs are {a.dtype}, not numeric features"}
    gen = torch.Generator().manual_seed(seed)
    m = min(len(a), len(b), TWO_SAMPLE_MAX)
    if m < TWO_SAMPLE_MIN:
        return {"skipped": f"only {m} inputs on one side; at least {TWO_SAMPLE_MIN} are needed"}
    fa = a[torch.randperm(len(a), generator=gen)[:m]].reshape(m, -1).double()
    fb = b[torch.randperm(len(b), generator=gen)[:m]].reshape(m, -1).double()
    if fa.shape[1] > TWO_SAMPLE_FEATURES:  # a fixed random projection keeps the fit cheap
        proj = torch.randn(fa.shape[1], TWO_SAMPLE_FEATURES, generator=gen, dtype=torch.float64)
        fa, fb = fa @ proj, fb @ proj
    half = m // 2
    fit = torch.cat([fa[:half], fb[:half]])
    mean, scale = fit.mean(0), fit.std(0).clamp(min=1e-8)

    def features(v: torch.Tensor) -> torch.Tensor:
        z = ((v - mean) / scale).clamp(-10, 10)
        return torch.cat([z, z.square() - 1, torch.ones(len(z), 1, dtype=z.dtype)], dim=1).float()

    labels = torch.cat([torch.zeros(half), torch.ones(half)])
    weight = _fit_logistic(features(fit), labels)
    score_a = (features(fa[half:]) @ weight).numpy()
    score_b = (features(fb[half:]) @ weight).numpy()
    value = auc(score_b, score_a)
    se = null_auc_se(len(score_a), len(score_b))
    return {
        "auc": value,
        "null_se": se,
        "threshold": 0.5 + Z * se,
        "shifted": value > 0.5 + Z * se,
        "samples_per_side": m,
        "held_out_per_side": m - half,
        "classifier": "logistic regression on standardized inputs and their squares",
    }


def _fit_logistic(x: torch.Tensor, labels: torch.Tensor, l2: float = 1e-3) -> torch.Tensor:
    weight = torch.zeros(x.shape[1], requires_grad=True)
    opt = torch.optim.LBFGS([weight], max_iter=100, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(x @ weight, labels)
        loss = loss + l2 * weight[:-1].square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    return weight.detach()


# -- the probe --------------------------------------------------------------------------------------


def generalization_probe(
    ctx: ProbeContext, *, executor: str | None = None, workers: int | None = None
) -> ProbeOutcome:
    """`executor`/`workers` (probes/executor_options.py): where the held-out retraining runs."""
    started = time.perf_counter()
    setup = ctx.setup
    use_executor(ctx, executor, workers)
    trained = ctx.trained()
    base = compute_baselines(ctx)
    train = split_loss(setup, trained.model, setup.train, "training", base.trivial_loss, setup.seed)
    splits: dict[str, Any] = {"training": asdict(train)}
    answers: dict[str, AnswerValue] = {}
    rules: list[str] = []
    warnings: list[str] = []
    if base.fraction > LARGE_FRACTION:
        warnings.append("the training loss itself is large: the flowchart looks at it first")
    if setup.test is None:
        answers["test_loss_large"] = "unsure"
        # no test set: the flowchart judges overfitting on a validation split alone (rules/flowchart.py)
        answers["test_set_available"] = "no"
        summary = (
            f"No separate test set (Setup.test): nothing to judge the test loss on, so mismatch cannot be "
            f"checked. Training loss {train.loss:.4g}."
        )
        val, val_train, val_source = _validation(ctx, trained, train, "unsure")
        if val is not None and val_train is not None:
            splits["validation"] = {**asdict(val), "source": val_source}
            answers["val_loss_large"], rule = decide_split(val, val_train, setup.target_loss)
            rules.append(rule + f" [{val_source}]")
            summary += f" Validation loss {val.loss:.4g} ({val_source}): large: {answers['val_loss_large']}."
        return _outcome(
            answers,
            summary,
            rules,
            {"splits": splits, "trainings": ctx.trainings, "executor": executor_json(ctx.executor)},
            warnings,
            started,
        )

    test = split_loss(
        setup, trained.model, setup.test, "test", trivial_loss_on(ctx, setup.test, "test"), setup.seed
    )
    splits["test"] = asdict(test)
    answers["test_loss_large"], rule = decide_split(test, train, setup.target_loss)
    rules.append(rule)

    val, val_train, val_source = _validation(ctx, trained, train, answers["test_loss_large"])
    if val is not None and val_train is not None:
        splits["validation"] = {**asdict(val), "source": val_source}
        answers["val_loss_large"], rule = decide_split(val, val_train, setup.target_loss)
        rules.append(rule + f" [{val_source}]")

    x_train, _ = tensors(setup.train, EVAL_SAMPLES)
    x_test, _ = tensors(setup.test, EVAL_SAMPLES, "test")
    shift = two_sample_check(x_train, x_test, setup.seed)
    rules.append(_shift_rule(shift))
    warnings += _consistency(answers, shift)
    summary = _summary(train, test, val, answers, shift)
    data = {
        "splits": splits,
        "two_sample": shift,
        "trainings": ctx.trainings,
        "executor": executor_json(ctx.executor),
    }
    return _outcome(answers, summary, rules, data, warnings, started)


def _validation(
    ctx: ProbeContext, trained: TrainedModel, train: SplitLoss, test_answer: AnswerValue
) -> tuple[SplitLoss | None, SplitLoss | None, str]:
    setup = ctx.setup
    if setup.val is not None:
        trivial = trivial_loss_on(ctx, setup.val, "validation")
        return (
            split_loss(setup, trained.model, setup.val, "validation", trivial, setup.seed),
            train,
            "Setup.val",
        )
    if test_answer == "no":
        return None, None, "not needed: the test loss is not large"
    model, fit_data, held_data = holdout_split(ctx)
    base = compute_baselines(ctx)
    fit = split_loss(setup, model.model, fit_data, "training (80%)", base.trivial_loss, setup.seed)
    held = split_loss(
        setup, model.model, held_data, "validation", trivial_loss_on(ctx, held_data, "holdout"), setup.seed
    )
    return held, fit, f"{HOLDOUT_FRACTION:.0%} of the training data held out, recipe retrained on the rest"


def _shift_rule(shift: dict[str, Any]) -> str:
    if "skipped" in shift:
        return f"two-sample check skipped: {shift['skipped']}"
    return (
        f"train-vs-test classifier: held-out AUC {shift['auc']:.3f} vs 0.5 + {Z:g} x {shift['null_se']:.3f} "
        f"= {shift['threshold']:.3f} -> inputs "
        + ("come from different distributions" if shift["shifted"] else "look alike")
    )


def _consistency(answers: dict[str, AnswerValue], shift: dict[str, Any]) -> list[str]:
    shifted = shift.get("shifted")
    if answers.get("test_loss_large") != "yes" or shifted is None:
        return []
    if answers.get("val_loss_large") == "no" and not shifted:
        return [
            "validation is fine but the test inputs look like the training inputs: the shift may be in "
            "the labels (the input-to-target relation changed), or the test set is small"
        ]
    if answers.get("val_loss_large") == "yes" and shifted:
        return ["the test inputs also differ from the training inputs: mismatch may add to overfitting"]
    return []


def _summary(
    train: SplitLoss,
    test: SplitLoss,
    val: SplitLoss | None,
    answers: dict[str, AnswerValue],
    shift: dict[str, Any],
) -> str:
    parts = [f"training {train.loss:.4g}", f"test {test.loss:.4g}"]
    if val is not None:
        parts.insert(1, f"validation {val.loss:.4g}")
    text = "Losses: " + ", ".join(parts) + f". Test loss large: {answers['test_loss_large']}"
    if "val_loss_large" in answers:
        text += f"; validation loss large: {answers['val_loss_large']}"
    if "auc" in shift:
        text += f". Train-vs-test AUC {shift['auc']:.2f}" + (" (shifted)" if shift["shifted"] else "")
    return text + "."


def _outcome(
    answers: dict[str, AnswerValue],
    summary: str,
    rules: list[str],
    data: dict[str, Any],
    warnings: list[str],
    started: float,
) -> ProbeOutcome:
    return ProbeOutcome(
        probe="generalization",
        answers=answers,
        summary=summary,
        rules=rules,
        data=json_safe(data),
        warnings=warnings,
        seconds=time.perf_counter() - started,
    )
