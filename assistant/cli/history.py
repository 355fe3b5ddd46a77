"""`traindoc history PATH`: read a training history, show its curves and what they say.

traindoc history runs/checkpoint-1500                 # analysis + terminal plot
traindoc history metrics.csv --classes 10 --json      # the ProbeOutcome as JSON
traindoc history events.out.tfevents.* --plot curves.svg --log-y
traindoc history mlflow://127.0.0.1:5000/RUN_ID
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from assistant.errors import InputError

ORDER = 35


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "history", help="analyse a training history (HF, Lightning, Keras, TensorBoard, CSV/JSON, MLflow)"
    )
    p.add_argument(
        "path", metavar="PATH", help="a history file, a run directory or mlflow://HOST:PORT/RUN_ID"
    )
    p.add_argument("--json", action="store_true", help="print the outcome (answers, rules, analysis) as JSON")
    p.add_argument("--plot", metavar="FILE.svg", help="also write the curves as an SVG figure")
    add_history_options(p)
    p.add_argument("--log-y", action="store_true", help="logarithmic loss axis in the plots")
    p.add_argument("--width", type=int, default=64, help="terminal plot width in characters")
    p.add_argument("--height", type=int, default=14, help="terminal plot height in lines")
    p.add_argument(
        "--color", choices=("auto", "always", "never"), default="auto", help="colour the terminal plot"
    )
    p.set_defaults(handler=run)


def add_history_options(p: argparse.ArgumentParser) -> None:
    """The facts a history does not hold, shared by `history` and `diagnose --history`."""
    p.add_argument(
        "--classes",
        type=int,
        metavar="C",
        help="number of classes: the baseline is ln C (uniform predictions)",
    )
    p.add_argument(
        "--priors", metavar="P1,P2,...", help="class frequencies or counts: the baseline is their entropy"
    )
    p.add_argument(
        "--label-smoothing",
        type=float,
        default=0.0,
        metavar="EPS",
        help="label smoothing (raises the loss floor)",
    )
    p.add_argument(
        "--baseline",
        type=float,
        metavar="LOSS",
        help="the loss of a trivial predictor (e.g. the target variance for MSE): the yardstick for 'large'",
    )
    p.add_argument(
        "--patience", type=int, default=3, help="early-stopping patience in evaluations (default 3)"
    )
    p.add_argument(
        "--group",
        metavar="PREFIX",
        help="the model to analyse when the file logs several (cls for cls_loss/cls_val_loss)",
    )


def history_options(args: argparse.Namespace) -> dict:
    """The options of `add_history_options` as history_outcome keywords."""
    return {
        "classes": args.classes,
        "priors": _priors(args.priors),
        "label_smoothing": args.label_smoothing,
        "baseline": args.baseline,
        "patience": args.patience,
        "group": args.group,
    }


def _priors(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"--priors must be numbers separated by commas (got {text!r})") from None
    if len(values) < 2 or any(v < 0 for v in values) or sum(values) <= 0:
        raise InputError("--priors needs at least two non-negative class frequencies")
    return values


def _markers(analysis: dict) -> list:
    from assistant.plots import history_markers  # one home: the TUI's export draws the same marks

    return history_markers(analysis)


def _x_label(curves: list) -> str:
    axes = {str(c.x or "step") for c in curves}
    return axes.pop() if len(axes) == 1 else "step"


def _text(outcome, plot: str) -> str:
    data = outcome.result  # HistoryResult (probes/results.py)
    lines = [f"history: {data.source} ({data.format})"]
    lines += [f"  {n}" for n in data.notes]
    if data.group is not None:
        shown = ", ".join(g or "(plain)" for g in data.groups)
        lines.append(f"  analysed group: {data.group or '(plain)'} of {shown} (--group to choose)")
    lines += ["", plot, outcome.summary, "", "Answers:"]
    lines += [f"  {q}: {v}" for q, v in outcome.answers.items()] or ["  (none: the history cannot tell)"]
    lines += ["", "Rules:"] + [f"  - {r}" for r in outcome.rules]
    if outcome.warnings:
        lines += ["", "Warnings:"] + [f"  ! {w}" for w in outcome.warnings]
    if data.needs:
        lines += ["", "To settle what is left open:"]
        lines += [f"  ? {n.question}: give {' or '.join(n.options)}" for n in data.needs]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    from assistant.plots import PlotCurve, history_levels, svg_plot, terminal_plot
    from probes.history import history_outcome

    outcome = history_outcome(args.path, **history_options(args))
    result = outcome.result  # HistoryResult (probes/results.py)
    curves = [
        PlotCurve(
            c.name,
            [math.nan if x is None else x for x in c.steps],
            [math.nan if v is None else v for v in c.values],
        )
        for c in result.curves
    ]
    markers = _markers(result.analysis)
    x_label = _x_label(result.curves)
    if args.plot:
        svg = svg_plot(
            curves,
            log_y=args.log_y,
            title=Path(result.source).name,
            x_label=x_label,
            markers=markers,
            levels=history_levels(result.analysis),
        )
        try:
            Path(args.plot).write_text(svg, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write {args.plot}: {exc.strerror or exc}") from None
    if args.json:
        import json

        from probes.results import outcome_json

        sys.stdout.write(json.dumps(outcome_json(outcome), indent=2) + "\n")
        return 0
    color = args.color == "always" or (
        args.color == "auto" and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    )
    plot = terminal_plot(
        curves,
        width=args.width,
        height=args.height,
        log_y=args.log_y,
        color=color,
        x_label=x_label,
        markers=markers,
    )
    sys.stdout.write(_text(outcome, plot))
    if args.plot:
        sys.stdout.write(f"\nwrote {args.plot}\n")
    return 0
