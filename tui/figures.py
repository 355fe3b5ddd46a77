"""The figures an exported report shows: what each measurement behind the diagnosis rests on.

- the depth ladder: final training loss by depth (each seed and the mean), with the trivial
  predictor's loss and the easy reference model's as lines, and the user's depth marked;
- the training loss against its baselines (trivial predictor, easy model, target, held-out loss);
- the Hessian's eigenvalue estimates (lambda_max, lambda_min, and 2/lr when known), and their
  convergence when it was watched live;
- the Hessian's eigenvalue density (--density), with λ = 0 marked and the negative share's range;
- a training history with its baseline (ln C), best held-out point and early-stopping marks;
- curves watched live (the training loss of every variant trained).

Pure: evidence data in, SVG text out (drawn by `assistant.plots`). Each figure has a file stem
and a title; the export writes them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assistant.models import Evidence
from assistant.plots import Level, Marker, PlotCurve, history_levels, history_markers, svg_bars, svg_plot
from probes.results import BaselinesResult, CurvatureResult, DepthResult
from tui.evidence import CurvePoints, curves, spectrum
from tui.plotting import as_curves, use_log_scale


@dataclass(frozen=True)
class Figure:
    stem: str
    title: str
    svg: str


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def figures_for(
    evidence: Evidence, where: str, seen: Mapping[str, Mapping[str, CurvePoints]] | None = None
) -> list[Figure]:
    data, probe = evidence.data, evidence.probe or evidence.source.value
    result = evidence.result  # the probe's typed result (probes/results.py), None if it has none
    out: list[Figure] = []
    if isinstance(result, DepthResult):
        out += _depth_ladder(result, where)
    elif isinstance(result, BaselinesResult):
        out += _baselines(result, where)
    elif isinstance(result, CurvatureResult):
        out += _eigenvalues(result, where)
    if probe == "curvature":  # read from the raw data: a density alone still draws
        out += _density(data, where)
    if evidence.source.value == "history" or "analysis" in data:
        out += _history(data, where)
        return out
    live = dict((seen or {}).get(probe, {})) or curves(data)
    if live:
        is_curvature = probe == "curvature"
        out.append(
            Figure(
                "estimates" if is_curvature else "training",
                f"{'Lanczos estimates by iteration' if is_curvature else 'Training loss of each variant'} — {where}",
                svg_plot(
                    as_curves(live),
                    title="Lanczos estimates by iteration"
                    if is_curvature
                    else "Training loss of each variant",
                    log_y=use_log_scale(live),
                    x_label="iteration" if is_curvature else "step",
                    y_label="estimate" if is_curvature else "loss",
                    levels=[Level(0.0, "0")] if is_curvature else (),
                ),
            )
        )
    return out


def _depth_ladder(data: DepthResult, where: str) -> list[Figure]:
    rows = data.ladder
    if not rows:
        return []
    depths = [float(r.depth) for r in rows]
    means = [_num(r.mean) for r in rows]
    seeds_x = [float(r.depth) for r in rows for v in r.losses if _num(v) is not None]
    seeds_y = [float(v) for r in rows for v in r.losses if v is not None and _num(v) is not None]
    drawn = [
        PlotCurve("mean over seeds", depths, [m if m is not None else math.nan for m in means], points=True),
        PlotCurve("each seed", seeds_x, seeds_y, points=True, line=False),
    ]
    levels = []
    trivial = _num(data.trivial_loss)
    if trivial is not None:
        levels.append(Level(trivial, f"trivial predictor {trivial:.3g}"))
    reference = _num((data.reference or {}).get("reference_loss"))
    if reference is not None:
        levels.append(Level(reference, f"easy reference model {reference:.3g}"))
    user = _num(data.user_depth)
    markers = [Marker(user, "your depth")] if user is not None else []
    ys = [y for y in seeds_y + [m for m in means if m is not None]] + [lv.y for lv in levels]
    log_y = bool(ys) and min(ys) > 0 and max(ys) / min(ys) > 100
    title = "Depth ladder: final training loss by depth"
    svg = svg_plot(
        drawn,
        title=title,
        x_label="depth",
        y_label="final training loss",
        log_y=log_y,
        levels=levels,
        markers=markers,
    )
    return [Figure("depth-ladder", f"{title} — {where}", svg)]


def _baselines(data: BaselinesResult, where: str) -> list[Figure]:
    bars: list[tuple[str, float]] = []
    train = _num(data.train_loss)
    if train is not None:
        bars.append(("your model, training loss", train))
    trivial = _num(data.trivial_loss)
    if trivial is not None:
        bars.append(("trivial predictor", trivial))
    ref_loss = _num(data.reference.loss)
    if ref_loss is not None:
        bars.append((f"easy model ({data.reference.kind or 'reference'})", ref_loss))
    target = _num(data.target_loss)
    if target is not None:
        bars.append(("your target", target))
    for split, held in data.held_out.items():
        loss = _num(held.loss)
        if loss is not None:
            bars.append((f"your model, {split} loss", loss))
    if len(bars) < 2:
        return []
    title = "Training loss against its baselines"
    return [Figure("loss-vs-baselines", f"{title} — {where}", svg_bars(bars, title=title, x_label="loss"))]


def _eigenvalues(data: CurvatureResult, where: str) -> list[Figure]:
    bars: list[tuple[str, float]] = []
    for value, name in ((data.lambda_max, "λ_max (largest)"), (data.lambda_min, "λ_min (smallest)")):
        if _num(value) is not None:
            bars.append((name, float(value)))  # type: ignore[arg-type]
    # the stability check, as a curvature: the rate is stable while lambda_max stays below
    # lambda_max * limit / lr (2 / lr for plain SGD; the momentum forms scale the same way)
    limit, lr, top = _num(data.stability_limit), _num(data.learning_rate), _num(data.lambda_max)
    if limit is not None and lr is not None and top is not None and limit > 0 and lr > 0:
        bars.append(("largest λ_max stable at your learning rate", top * limit / lr))
    if not bars:
        return []
    title = "Hessian eigenvalue estimates where training stopped"
    return [Figure("eigenvalues", f"{title} — {where}", svg_bars(bars, title=title, x_label="eigenvalue"))]


def _density(data: Mapping[str, Any], where: str) -> list[Figure]:
    """The eigenvalue density (--density) on a log axis, λ = 0 marked, and in the legend the
    estimated negative share with the range the quadrature bounds it to."""
    found = spectrum(data)
    if found is None:
        return []
    xs = [x for x, _ in found.points]
    markers = [Marker(0.0, "λ = 0")] if min(xs) < 0 < max(xs) else []
    title = "Hessian eigenvalue density (ESTIMATE)"
    shown = "Eigenvalue density (estimate)"  # the image's own title: short, so the share fits beside it
    if found.negative is not None:
        shown += f" — λ < 0: {found.negative:.1%}"
        if found.negative_range is not None:
            shown += f", bounded to {found.negative_range[0]:.1%}–{found.negative_range[1]:.1%}"
    trace = found.trace_text()
    svg = svg_plot(
        [PlotCurve("SLQ density", xs, [y for _, y in found.points])],
        title=shown,
        log_y=True,
        x_label=f"eigenvalue λ — {trace}" if trace else "eigenvalue λ",
        y_label="density",
        markers=markers,
    )
    return [Figure("eigenvalue-density", f"{title} — {where}", svg)]


def _history(data: Mapping[str, Any], where: str) -> list[Figure]:
    found = curves(data)
    if not found:
        return []
    analysis = data.get("analysis") or {}
    x_axes = {str(c.get("x") or "step") for c in data.get("curves") or [] if isinstance(c, Mapping)}
    title = "Training history"
    svg = svg_plot(
        as_curves(found),
        title=title,
        log_y=use_log_scale(found),
        x_label=x_axes.pop() if len(x_axes) == 1 else "step",
        markers=history_markers(analysis),
        levels=history_levels(analysis),
    )
    return [Figure("history", f"{title} — {where}", svg)]
