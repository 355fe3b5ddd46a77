"""From the analysis to the flowchart: which questions the curves answer, and every rule with its numbers.

A question the history cannot settle is answered 'unsure' when the curves were looked at (the rule
says why), and left out when there is nothing to look at (no validation curve: val_loss_large stays
pending). Only a curve that is clearly a test set answers test_loss_large: an HF `eval_loss` or a
Lightning `val_loss` is a validation split.
"""

from __future__ import annotations

import math

from probes.base import AnswerValue, ProbeOutcome
from probes.history._heldout import _error, _metric_for
from probes.history._models import HeldOutCheck, History, HistoryAnalysis, Need, Series
from rules.judgements import held_out_large, loss_large
from rules.questions import QUESTIONS
from rules.thresholds import LOSS_LARGE_FRACTION, LOSS_SMALL_FRACTION

# final training loss as a fraction of the way from the floor to the baseline: the same rule as the
# baselines probe (rules/thresholds.py), so a run on disk and a measured run are judged alike
TRAIN_LARGE = LOSS_LARGE_FRACTION
TRAIN_SMALL = LOSS_SMALL_FRACTION
FELL_TO = 0.20  # no baseline: a loss that fell to <= 20% of where it started is not large
RISE_GL = 10.0  # held-out loss >= 10% above its best...
RISE_ABS = 0.05  # ...and risen by >= 5% of the scale: it is rising
# the gap to the training loss is judged by the one held-out rule, rules/judgements.held_out_large
CONFIDENT_ACCURACY = 0.90
LR_RULE = "(rule: the largest rise of the smoothed training loss >= 10% of the scale and >= 20% of its level, while the LR is >= 80% of a peak at least 2x its lowest)"
_QUESTION_IDS = {
    q.id for q in QUESTIONS
}  # accuracy this high with a loss above half the baseline: under-confident


def _fmt(x: float | None) -> str:
    return "?" if x is None or not math.isfinite(x) else f"{x:.4g}"


def _where(step: float | None, epoch: float | None) -> str:
    if epoch is not None and math.isfinite(epoch):
        return (
            f"epoch {epoch:.3g} (step {step:g})"
            if step is not None and step != epoch
            else f"epoch {epoch:.3g}"
        )
    return f"step {step:g}" if step is not None else "?"


def _ratio_to_baseline(a: HistoryAnalysis, value: float) -> float | None:
    b = a.baseline
    if b.value is None or b.value <= b.floor:
        return None
    return (value - b.floor) / (b.value - b.floor)


def train_answer(a: HistoryAnalysis) -> tuple[AnswerValue | None, str]:
    t, d = a.train, a.divergence
    if t is not None and d.status == "diverged" and (d.kind == "blowup" or not d.recovered):
        return (
            "yes",
            f"train_loss_large = yes: training ended diverged ({d.explanation}); the model it left is unusable",
        )
    if t is None or t.final_level is None:
        return None, "train_loss_large: no training loss curve in the history: left open"
    floor = f" above the label-smoothing floor {a.baseline.floor:.4g}" if a.baseline.floor else ""
    ratio = _ratio_to_baseline(a, t.final_level)
    if ratio is not None:
        rule = f"(rule: >= {TRAIN_LARGE:.0%} large, <= {TRAIN_SMALL:.0%} small)"
        text = f"final training loss {t.final_level:.4g}{floor} is {ratio:.0%} of the baseline {a.baseline.value:.4g} {rule}"
        verdict = loss_large(t.final_level, a.baseline.value or 0.0, a.baseline.floor or 0.0).verdict
        if verdict == "yes":
            return (
                "yes",
                f"train_loss_large = yes: {text}; the model does little better than a trivial predictor",
            )
        if verdict == "no":
            return "no", f"train_loss_large = no: {text}"
        return "unsure", f"train_loss_large = unsure: {text}; whether that is large depends on your task"
    if t.first is not None and t.first > 0:
        fell = t.final_level / t.first
        text = f"no baseline known; the training loss went from {t.first:.4g} to {t.final_level:.4g} ({fell:.0%} of its first value)"
        if fell <= FELL_TO:
            return (
                "no",
                f"train_loss_large = no: {text}, <= {FELL_TO:.0%}: it fits the training data far better than at the start",
            )
        return (
            None,
            f"train_loss_large: left open: {text}, more than {FELL_TO:.0%}; {NEED_TEXT}",
        )
    return None, f"train_loss_large: left open: no baseline and no usable first loss; {NEED_TEXT}"


NEED_TEXT = (
    "give --classes C (a classifier: the baseline is ln C) or --baseline LOSS (e.g. the variance of "
    "the targets for an MSE) to settle it"
)


def train_need(a: HistoryAnalysis) -> Need:
    return Need(
        question="train_loss_large",
        fact="classes",
        options=["--classes C", "--baseline LOSS"],
        why=a.baseline.explanation or "no trivial-predictor loss is known for this history",
    )


def _underconfident(history: History, series: Series, value: float, a: HistoryAnalysis) -> str | None:
    """High accuracy with a loss far above zero: predictions are right but soft (label smoothing,
    mixup, soft targets), so the loss misjudges the model."""
    metric = _metric_for(history, series)
    ratio = _ratio_to_baseline(a, value)
    # without a baseline, a cross-entropy above ln 2 means under 50% average probability on the true class
    high = ratio >= 0.5 if ratio is not None else value >= math.log(2)
    if metric is None or not metric.higher_is_better or not high:
        return None
    finals = [v for v in metric.values if math.isfinite(v)]
    if not finals or "acc" not in metric.name.lower():
        return None
    accuracy = 1 - _error(metric, finals[-1])
    if accuracy < CONFIDENT_ACCURACY:
        return None
    where = f"{ratio:.0%} of the baseline" if ratio is not None else f"above ln 2 = {math.log(2):.3f}"
    return (
        f"{series.name} {value:.4g} is {where} while {metric.name} is {accuracy:.1%}: "
        "right but under-confident predictions (label smoothing, mixup or soft targets?); judge this curve by its accuracy"
    )


def held_out_answer(
    history: History, a: HistoryAnalysis, c: HeldOutCheck, series: Series, train: AnswerValue | None
) -> tuple[AnswerValue | None, str]:
    q = "val_loss_large" if c.split == "val" else "test_loss_large"
    if c.final_value is None:
        return None, f"{q}: {c.name} has no finite value ({c.nonfinite} NaN/inf): left open"
    if series.values and not math.isfinite(series.values[-1]):
        tail = next(
            i
            for i in range(len(series.values) - 1, -1, -1)
            if math.isfinite(series.values[i]) is False and (i == 0 or math.isfinite(series.values[i - 1]))
        )
        return None, (
            f"{q}: left open: {c.name} ends in NaN/inf (from step {series.steps[tail]:g}; its last finite value "
            f"{c.final_value:.4g} is not where the run ended)"
        )
    s = a.scale
    ratio = _ratio_to_baseline(a, c.final_value)
    over = (
        c.metric_check.explanation if c.metric_check and c.metric_check.verdict == "overconfidence" else None
    )
    # right but soft predictions make the loss misjudge the model: say so before judging the loss
    soft = _underconfident(history, series, c.final_value, a)
    if soft:
        return "unsure", f"{q} = unsure: {soft}"
    beside = f"; beside it: {over} (the loss judges probabilities, the metric decisions)" if over else ""
    if ratio is not None and ratio >= TRAIN_LARGE:
        text = f"{c.name} ends at {c.final_value:.4g}, {ratio:.0%} of the baseline {a.baseline.value:.4g}"
        return "yes", f"{q} = yes: {text}: no better than a trivial predictor{beside}"
    rise = c.final_value - (c.best_value if c.best_value is not None else c.final_value)
    # a curve fact the static numbers lack: the held-out loss climbed back up from its best
    rising = (c.generalization_loss or 0) >= RISE_GL and rise >= RISE_ABS * s
    facts = [
        f"{c.name} ends at {c.final_value:.4g}, best {_fmt(c.best_value)} at {_where(c.best_step, c.best_epoch)}, GL {c.generalization_loss:.1f}%"
    ]
    rule = f"(rule: large if GL >= {RISE_GL:g}% and risen >= {RISE_ABS:.0%} of the scale {s:.4g}"
    if rising:
        return "yes", f"{q} = yes: {'; '.join(facts)} {rule}){beside}"
    if c.train_level_final is None:
        if ratio is None:
            return (
                "unsure",
                f"{q} = unsure: {'; '.join(facts)}; no training curve or baseline to compare with",
            )
    else:
        # the one held-out rule (rules/judgements.py), on the losses above the label-smoothing floor
        floor = a.baseline.floor or 0.0
        trivial = a.baseline.value - floor if ratio is not None and a.baseline.value is not None else None
        j = held_out_large(
            c.final_value - floor, c.train_level_final - floor, trivial=trivial, name=c.name, scale=s
        )
        facts.append(j.reason)
        if j.verdict != "no":
            return j.verdict, f"{q} = {j.verdict}: {'; '.join(facts)}{beside}"
    text = "; ".join(facts)
    if train is None and ratio is None:
        return (
            None,
            f"{q}: left open: {text}; it is as large as the training loss, which is not judged yet (no baseline)",
        )
    if train != "no" and ratio is None:
        # no gap, but the training loss itself is large or unclear: the held-out loss is just as large
        return (
            train,
            f"{q} = {train or 'unsure'}: {text}; it is as large as the training loss, which is {'large' if train == 'yes' else 'hard to judge'}",
        )
    return "no", f"{q} = no: {text}"


def diverged_answer(a: HistoryAnalysis) -> tuple[AnswerValue | None, str]:
    d = a.divergence
    if d.status == "diverged":
        return "yes", f"loss_diverged = yes: {d.explanation}"
    if d.status == "stable":
        return "no", f"loss_diverged = no: {d.explanation}"
    return None, f"loss_diverged: {d.explanation}: left open"


def _describe(a: HistoryAnalysis) -> list[str]:
    lines = [
        f"baseline: {a.baseline.explanation}"
        if a.baseline.value
        else f"baseline: none ({a.baseline.explanation})"
    ]
    lines.append(f"loss scale for the rules: {a.scale:.4g}")
    if a.train_trend:
        lines.append(f"trend: {a.train_trend.explanation}")
    lines += [f"noise: {n.explanation}" for n in a.noise]
    for c in a.held_out:
        es = c.early_stopping
        if es is None:
            continue
        lines.append(
            f"{c.name}: best {_fmt(c.best_value)} at {_where(c.best_step, c.best_epoch)}, final {_fmt(c.final_value)} at "
            f"{_where(c.final_step, c.final_epoch)}; Prechelt GL at the end {c.generalization_loss:.1f}% (max {c.max_generalization_loss:.1f}%)"
        )
        if c.gap_trend:
            lines.append(
                f"{c.name}: gap to the training loss {c.gap_first:+.4g} at the first evaluation, {c.gap_final:+.4g} at the last: {c.gap_trend}"
            )
        stop = (
            f"patience {es.patience} would have stopped at {_where(es.stop_step, es.stop_epoch)} and kept {_where(es.restore_step, es.restore_epoch)}"
            if es.stop_step is not None
            else f"patience {es.patience} would not have stopped"
        )
        gl = (
            f"GL > {es.gl_alpha:g}% first at {_where(es.gl_stop_step, es.gl_stop_epoch)}"
            if es.gl_stop_step is not None
            else f"GL never exceeded {es.gl_alpha:g}%"
        )
        lines.append(f"{c.name}: early stopping: {stop}; {gl}")
        if c.overfitting_onset_step is not None:
            lines.append(
                f"{c.name}: overfitting onset at {_where(c.overfitting_onset_step, c.overfitting_onset_epoch)} (the best {c.name}; it rose afterwards)"
            )
        if c.metric_check:
            lines.append(f"{c.name}: {c.metric_check.explanation}")
    return lines


def build_outcome(
    history: History, a: HistoryAnalysis, series_by_name: dict[str, Series], data: dict[str, object]
) -> ProbeOutcome:
    answers: dict[str, AnswerValue] = {}
    rules: list[str] = []
    train_value, train_rule = train_answer(a)
    for question, (value, rule) in (
        ("train_loss_large", (train_value, train_rule)),
        ("loss_diverged", diverged_answer(a)),
    ):
        rules.append(rule)
        if value is not None:
            answers[question] = value
    for split in ("val", "test"):
        checks = [c for c in a.held_out if c.split == split]
        if not checks:
            q = "val_loss_large" if split == "val" else "test_loss_large"
            rules.append(
                f"{q}: no {'validation' if split == 'val' else 'test'} loss curve in the history: left open"
            )
            continue
        value, rule = held_out_answer(history, a, checks[0], series_by_name[checks[0].name], train_value)
        rules.append(rule)
        if value is not None:
            answers["val_loss_large" if split == "val" else "test_loss_large"] = value
    if train_value is None and a.train is not None and a.baseline.value is None:
        a.needs.append(train_need(a))
    lr = a.learning_rate
    if lr is not None:
        if lr.exceeds:
            answers["learning_rate_exceeds_stability"] = "yes"
            rules.append(f"learning_rate_exceeds_stability = yes: {lr.explanation} {LR_RULE}")
        else:
            rules.append(f"learning_rate_exceeds_stability: left open: {lr.explanation} {LR_RULE}")
    if "test_set_available" in _QUESTION_IDS:
        has_test = any(c.split == "test" for c in a.held_out)
        answers["test_set_available"] = "yes" if has_test else "no"
        rules.append(
            f"test_set_available = {'yes' if has_test else 'no'}: "
            + ("a test loss curve is in the history" if has_test else "no curve in the history is named test")
        )
    rules += [f"observed: {o}" for o in a.observations]
    for c in a.held_out:
        s = series_by_name.get(c.name)
        if s is not None and s.values and not math.isfinite(s.values[-1]) and c.final_value is not None:
            a.warnings.append(
                f"{c.name} ends in NaN/inf: the model at the end of the run gives no usable held-out loss"
            )
    rules += _describe(a)
    warnings = list(history.warnings) + list(a.warnings)
    warnings += [
        c.metric_check.explanation
        for c in a.held_out
        if c.metric_check and c.metric_check.verdict == "overconfidence"
    ]
    data["needs"] = [n.model_dump(mode="json") for n in a.needs]
    analysis = data.get("analysis")
    if isinstance(analysis, dict):
        analysis["needs"] = data["needs"]
        analysis["warnings"] = list(a.warnings)
    return ProbeOutcome(
        probe="history",
        answers=answers,
        summary=summarize(history, a, answers),
        rules=rules,
        data=data,
        warnings=warnings,
    )


def summarize(history: History, a: HistoryAnalysis, answers: dict[str, AnswerValue]) -> str:
    """Two or three sentences a careful engineer would say first."""
    parts: list[str] = []
    d, t = a.divergence, a.train
    if d.status == "diverged":
        kind = {
            "hidden_nan": "NaN hidden as loss 0.0",
            "nan": "NaN",
            "inf": "infinite loss",
            "blowup": "the loss blew up",
        }
        tail = "" if d.kind == "blowup" else "; it recovered" if d.recovered else "; it never recovered"
        parts.append(f"Training diverged ({kind.get(d.kind or '', '')}) at step {d.step:g}{tail}.")
    ended_in_nan = d.status == "diverged" and not d.recovered and d.kind != "blowup"
    if t is not None and t.final_level is not None and not ended_in_nan:
        verdict = {"yes": "large", "no": "small", "unsure": "hard to judge"}.get(
            answers.get("train_loss_large", ""), "not judged"
        )
        ratio = _ratio_to_baseline(a, t.final_level)
        base = (
            f" ({ratio:.0%} of the baseline {a.baseline.value:.3g})"
            if ratio is not None and a.baseline.value
            else ""
        )
        trend = (
            f", {a.train_trend.status.replace('_', ' ')}"
            if a.train_trend and a.train_trend.status != "too_short"
            else ""
        )
        parts.append(f"Training loss ends at {t.final_level:.3g}{base}: {verdict}{trend}.")
    parts += [f"{o[0].upper()}{o[1:]}." for o in a.observations]
    if a.learning_rate is not None and a.learning_rate.exceeds:
        parts.append(f"Learning rate too high for a phase: {a.learning_rate.explanation}.")
    parts += [f"Warning: {w}." for w in a.warnings[:1]]
    if a.needs:
        parts.append(f"To judge the training loss give {' or '.join(a.needs[0].options)}.")
    if not a.held_out:
        parts.append("No validation curve: overfitting cannot be judged from this history.")
        return " ".join(parts)
    c = a.held_out[0]
    if c.final_value is None:
        parts.append(f"{c.name} is NaN throughout.")
        return " ".join(parts)
    q = "val_loss_large" if c.split == "val" else "test_loss_large"
    verdict = {"yes": "large", "no": "fine", "unsure": "ambiguous"}.get(answers.get(q, ""), "not judged")
    times = f", {c.gap_ratio:.1f}x the training loss" if c.gap_ratio is not None else ""
    trend = f" (gap {c.gap_trend})" if c.gap_trend and c.gap_trend != "stable" else ""
    parts.append(f"{c.name} ends at {c.final_value:.3g}{times}{trend}: {verdict}.")
    if c.overfitting_onset_step is not None:
        es = c.early_stopping
        stop = (
            f"; early stopping (patience {es.patience}) would have stopped at {_where(es.stop_step, es.stop_epoch)}"
            if es and es.stop_step is not None
            else ""
        )
        parts.append(
            f"It was lowest at {_where(c.best_step, c.best_epoch)} and rose {c.generalization_loss:.0f}% since{stop}."
        )
    if c.metric_check and c.metric_check.verdict == "overconfidence":
        parts.append(
            f"Beside that, {c.metric_check.metric} kept improving: the model grew over-confident (its loss judges probabilities)."
        )
    return " ".join(parts)
