"""The trivial baseline a loss is compared with: from what the user says or what the files show.

Cross-entropy of a classifier that predicts uniform probabilities over C classes is ln C; predicting
the class frequencies scores their entropy H(p), lower when classes are imbalanced; label smoothing
eps over K classes puts a floor H(q) under the loss (q = 1-eps+eps/K on the true class, eps/K on the
others). The class count is never guessed from a loss alone (issue 11: most guesses were wrong):
it comes from the user, from the run's saved config, or from a first loss at ln C logged together
with an accuracy at chance 1/C.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from probes.history._models import Baseline, History, Series
from probes.history._sidecar import CLASS_KEYS, SMOOTHING_KEYS

# a first loss within 5% of ln C, logged with an accuracy within max(0.01, 0.1/C) of chance 1/C
# (a tenth of the chance level): both say the model predicted uniformly over C classes. Either alone
# is no evidence: a 5-class Keras CNN after its first epoch logged val loss 1.897 (near ln 7) with
# accuracy 0.166 (0.143 is 1/7, 0.2 is 1/5), and 0.23 off would still have read as 7 classes.
CHANCE_LOSS = 0.05
CHANCE_ACC_ABS, CHANCE_ACC_REL = 0.01, 0.1


def entropy(probabilities: Sequence[float]) -> float:
    total = sum(probabilities)
    return -sum(p / total * math.log(p / total) for p in probabilities if p > 0)


def smoothing_floor(epsilon: float, classes: int) -> float:
    if epsilon <= 0 or classes < 2:
        return 0.0
    true = 1 - epsilon + epsilon / classes
    other = epsilon / classes
    return -(true * math.log(true) + (classes - 1) * other * math.log(other))


def from_user(
    classes: int | None, priors: Sequence[float] | None, label_smoothing: float, value: float | None
) -> Baseline | None:
    if value is not None:
        return Baseline(
            value=value, kind="user", source="user", explanation=f"your trivial-predictor loss {value:.4g}"
        )
    if priors:
        k = len(priors)
        h = entropy(priors)
        floor = smoothing_floor(label_smoothing, k)
        shown = ", ".join(f"{p / sum(priors):.3g}" for p in priors)
        return Baseline(
            value=h,
            floor=floor,
            kind="class_priors",
            classes=k,
            source="user",
            explanation=f"entropy of your class priors ({shown}) = {h:.4g}: the loss of predicting the class frequencies",
        )
    if classes:
        floor = smoothing_floor(label_smoothing, classes)
        return Baseline(
            value=math.log(classes),
            floor=floor,
            kind="uniform",
            classes=classes,
            source="user",
            explanation=f"ln {classes} = {math.log(classes):.4g}: uniform predictions over your {classes} classes",
        )
    return None


def _first_point(series: Series | None) -> tuple[float, float] | None:
    if series is None:
        return None
    for i, v in enumerate(series.values):
        if math.isfinite(v):
            return series.steps[i], v
    return None


def _accuracy_at(history: History, series: Series, step: float) -> tuple[str, float] | None:
    """The accuracy logged at `step` on the same data as `series` (as a fraction)."""
    for m in history.series:
        if (
            m.role == "metric"
            and m.split == series.split
            and m.eval_set == series.eval_set
            and m.higher_is_better
            and "acc" in m.name.lower()
        ):
            percent = any(v > 1 for v in m.values if math.isfinite(v))
            for s, v in zip(m.steps, m.values, strict=True):
                if s == step and math.isfinite(v):
                    return m.name, v / 100 if percent else v
    return None


def config_classes(history: History) -> tuple[int, str] | None:
    """The number of classes the run's saved config states (num_labels, num_classes, id2label...)."""
    for key in CLASS_KEYS:
        value = history.config.get(key)
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and value >= 2
            and value == int(value)
        ):
            return int(value), f"{key} = {int(value)} in {history.config_source or 'the run config'}"
    return None


def config_smoothing(history: History) -> float | None:
    for key in SMOOTHING_KEYS:
        value = history.config.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 1:
            return float(value)
    return None


def from_evidence(
    history: History, train: list[Series], held: list[Series], label_smoothing: float
) -> Baseline:
    """The baseline the files support: a class count in the run's config, or a first loss at ln C
    logged together with an accuracy at chance 1/C (both say 'uniform predictions over C classes').
    A first loss near some ln C alone is no evidence: a language model's 3.26 is not 26 classes."""
    found = config_classes(history)
    if found is not None:
        classes, where = found
        floor = smoothing_floor(label_smoothing, classes)
        return Baseline(
            value=math.log(classes),
            floor=floor,
            kind="uniform",
            classes=classes,
            source="file",
            explanation=f"ln {classes} = {math.log(classes):.4g}: uniform predictions over {classes} classes ({where})",
        )
    for series in train + held:
        first = _first_point(series)
        if first is None:
            continue
        step, loss = first
        if not 0.9 * math.log(2) <= loss <= 20:
            continue
        classes = max(2, round(math.exp(loss)))
        ln_c = math.log(classes)
        rel = (loss - ln_c) / ln_c
        accuracy = _accuracy_at(history, series, step)
        if accuracy is None or abs(rel) > CHANCE_LOSS:
            continue
        name, acc = accuracy
        if abs(acc - 1 / classes) > max(CHANCE_ACC_ABS, CHANCE_ACC_REL / classes):
            continue
        floor = smoothing_floor(label_smoothing, classes)
        return Baseline(
            value=ln_c,
            floor=floor,
            kind="uniform",
            classes=classes,
            source="detected",
            explanation=(
                f"ln {classes} = {ln_c:.4g}: at {series.x} {step:g} {series.name} is {loss:.4g} (within {abs(rel):.1%} of ln {classes}) "
                f"and {name} is {acc:.3g} (chance 1/{classes} = {1 / classes:.3g}): uniform predictions over {classes} classes"
            ),
        )
    return Baseline(
        explanation="the history does not say what a trivial predictor scores (no class count in a config beside it, "
        "no first loss at ln C with an accuracy at chance): give --classes C or --baseline LOSS"
    )
