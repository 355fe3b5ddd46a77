"""The trivial baseline a loss is compared with, from what the user says or from the first loss.

Cross-entropy of a classifier that predicts uniform probabilities over C classes is ln C; predicting
the class frequencies scores their entropy H(p), lower when classes are imbalanced; label smoothing
eps over K classes puts a floor H(q) under the loss (q = 1-eps+eps/K on the true class, eps/K on the
others). A freshly initialised classifier starts near ln C, so C can be read off the first loss
when that loss was logged early and sits close to some ln C. That is an assumption, stated as one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from probes.history._models import Baseline, History, Series

EARLY_FRACTION = 0.025  # of the run's steps: logged this early, the loss still reflects the start
EXACT = 0.02  # |L0 - ln C| / ln C: a match this close counts wherever it was logged
# an early loss may sit a little above ln C (random logits are not exactly uniform) or below it (a
# first logging window averages some progress). A wrong C inflates 'how large is the loss', so the
# window is narrow and epoch-level logs (an average over a whole epoch of training) need an exact match.
EARLY_BELOW, EARLY_ABOVE = 0.10, 0.15


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


def _metric_at(history: History, series: Series, step: float) -> float | None:
    for m in history.series:
        if (
            m.role == "metric"
            and m.split == series.split
            and m.eval_set == series.eval_set
            and m.higher_is_better
        ) and any(t in m.name.lower() for t in ("acc",)):
            for s, v in zip(m.steps, m.values, strict=True):
                if s == step and math.isfinite(v):
                    return v / 100 if v > 1 else v
    return None


def detect(history: History, train: Series | None, val: Series | None, label_smoothing: float) -> Baseline:
    """C from the earliest logged loss (train preferred on a tie), when it reads as ln C."""
    firsts = [(p, s) for s in (train, val) if s is not None and (p := _first_point(s)) is not None]
    if not firsts:
        return Baseline(explanation="no finite loss to read a baseline from")
    (step, loss), series = min(firsts, key=lambda ps: ps[0][0])
    none = Baseline(
        explanation=f"the first loss {loss:.4g} does not read as ln C of a classifier; give the number of classes"
    )
    if loss < 0.9 * math.log(2) or loss > 20:
        return none
    classes = max(2, round(math.exp(loss)))
    ln_c = math.log(classes)
    rel = (loss - ln_c) / ln_c
    total = history.total_steps or max((s.steps[-1] for s in history.series if s.steps), default=0.0)
    early = series.x == "step" and total > 0 and step <= EARLY_FRACTION * total
    if not (abs(rel) <= EXACT or (early and -EARLY_BELOW <= rel <= EARLY_ABOVE)):
        return none
    has_accuracy = any(m.role == "metric" and m.higher_is_better for m in history.series)
    if classes > 10 and not has_accuracy:
        # every loss above ~2.4 is within 2% of some ln C: without a classification metric the match
        # tells nothing (a language model's loss of 3.26 is not 26 classes)
        return Baseline(
            explanation=f"the first loss {loss:.4g} = ln {classes} only by chance, maybe: no classification metric is logged; give the number of classes"
        )
    accuracy = _metric_at(history, series, step)
    if accuracy is not None and accuracy > max(0.5, 3 / classes):
        return Baseline(
            explanation=f"the first loss {loss:.4g} comes with accuracy {accuracy:.3g}: not a uniform predictor"
        )
    floor = smoothing_floor(label_smoothing, classes)
    return Baseline(
        value=ln_c,
        floor=floor,
        kind="uniform",
        classes=classes,
        source="detected",
        explanation=(
            f"ln {classes} = {ln_c:.4g}, assuming {classes} classes: the first logged loss {loss:.4g} "
            f"({series.name} at {series.x} {step:g}) is within {abs(rel):.1%} of ln {classes}; give the number of classes if that is wrong"
        ),
    )
