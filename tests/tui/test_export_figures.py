"""The exported figures show what the diagnosis rests on, with every label inside the image.

Ground truth: the evidence here is written by hand (numbers chosen in the test), so what each figure
must show is known without traindoc: the ladder's depths and seeds, the baselines' values, ln 10 for
a 10-class history; and one real Lightning log (tests/data/real_histories) for the history marks.
The "inside the image" check bounds each text's extent by its length times an upper bound on the
glyph width (assistant.plots.CHAR_W), from its anchor.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from assistant.models import AnswerSource, Evidence
from assistant.plots import CHAR_W
from tests.conftest import REAL_HISTORIES
from tui.figures import figures_for

SVG = "{http://www.w3.org/2000/svg}"
LIGHTNING = REAL_HISTORIES / "lightning_csv" / "HCDescamps__cv-image-classification__version_0_metrics.csv"


def evidence(probe: str | None, data: dict, source: AnswerSource = AnswerSource.probe) -> Evidence:
    return Evidence(source=source, probe=probe, summary="", data=data)


def texts_inside(svg: str) -> list[str]:
    """Every text, after checking that its extent lies inside the image's width."""
    root = ET.fromstring(svg)
    width = float(root.get("width"))
    out = []
    for t in root.iter(f"{SVG}text"):
        text = t.text or ""
        size = float(t.get("font-size", 11)) / 11
        extent = len(text) * CHAR_W * size
        x = float(t.get("x"))
        if t.get("transform"):  # the rotated axis label: its x is its centre's
            continue
        start = {"start": x, "middle": x - extent / 2, "end": x - extent}[t.get("text-anchor", "start")]
        assert start >= 0 and start + extent <= width, (text, start, extent, width)
        out.append(text)
    return out


def test_depth_ladder_plots_each_seed_the_mean_the_baselines_and_your_depth() -> None:
    data = {
        "ladder": [
            {"depth": 1, "losses": [0.10, 0.12], "mean": 0.11},
            {"depth": 2, "losses": [0.20, 0.22], "mean": 0.21},
            {"depth": 4, "losses": [0.90, 0.94], "mean": 0.92},
        ],
        "user_depth": 4,
        "trivial_loss": 1.0,
        "reference": {"reference_loss": 0.5},
        # the rest of what the depth probe always writes (probes/results.py DepthResult)
        "table": [],
        "seeds": 2,
    }
    (figure,) = figures_for(evidence("depth", data), "Optimization issue")
    root = ET.fromstring(figure.svg)
    circles = root.findall(f"{SVG}circle")
    assert len(circles) == 3 + 6  # a dot per mean and per seed
    levels = root.findall(f"{SVG}line[@class='level']")
    assert len(levels) == 2  # the trivial predictor and the easy model
    said = texts_inside(figure.svg)
    assert "trivial predictor 1" in said and "easy reference model 0.5" in said
    assert "your depth" in said and "depth" in said
    # the trivial predictor's line lies above the easy model's (1.0 > 0.5 on a loss axis)
    y_trivial, y_easy = (float(line.get("y1")) for line in levels)
    assert y_trivial < y_easy


def test_loss_against_its_baselines_is_a_labelled_bar_each() -> None:
    data = {
        "train_loss": 2.2,
        "trivial_loss": 2.3,
        "reference": {"kind": "logistic regression", "loss": 0.4},
        "target_loss": 0.1,
        "held_out": {"test": {"loss": 2.4}},
        # the rest of what the baselines probe always writes (probes/results.py BaselinesResult)
        "task": "classification",
        "samples": 100,
        "trivial": {"uniform": 2.3},
        "fraction_of_trivial": 2.2 / 2.3,
    }
    (figure,) = figures_for(evidence("baselines", data), "Training loss large")
    root = ET.fromstring(figure.svg)
    assert len(root.findall(f"{SVG}rect[@class='bar']")) == 5
    said = texts_inside(figure.svg)
    for label in ("your model, training loss", "trivial predictor", "easy model (logistic regression)"):
        assert label in said
    assert "2.2" in said and "0.4" in said


def test_eigenvalues_with_a_negative_one_and_the_stable_limit() -> None:
    # lr 0.1, lambda_max 2: plain SGD is stable while lambda_max < 2 / 0.1 = 20 (limit 2/2 = 1.0)
    data = {"lambda_max": 2.0, "lambda_min": -2.0, "learning_rate": 0.1, "stability_limit": 1.0}
    # the rest of what the curvature probe always writes (probes/results.py CurvatureResult)
    data |= {"gradient_norm": 1e-5, "loss": 0.5, "hvp_count": 10, "method": "lanczos", "converged": True}
    data |= {"classification": "saddle_point"}
    (figure,) = figures_for(evidence("curvature", data), "Saddle point")
    root = ET.fromstring(figure.svg)
    bars = root.findall(f"{SVG}rect[@class='bar']")
    assert len(bars) == 3
    said = texts_inside(figure.svg)
    assert "-2" in said and "20" in said  # the negative eigenvalue, and 2 / lr
    zero = float(root.find(f"{SVG}line").get("x1"))
    negative = bars[1]
    assert float(negative.get("x")) + float(negative.get("width")) == pytest.approx(zero, abs=0.2)


def test_history_has_the_ln_c_line_and_an_early_stop_label_at_the_right_edge_inside() -> None:
    """Main: the early-stop label ran past the right edge when the stop was the last step, and the
    SVG had no baseline line."""
    steps = list(range(1, 21))
    train = [2.3 * math.exp(-s / 5) for s in steps]
    val = [1.5 - 0.05 * s if s < 10 else 1.0 + 0.05 * (s - 10) for s in steps]
    data = {
        "curves": [
            {"name": "train_loss", "x": "epoch", "steps": steps, "values": train},
            {"name": "val_loss", "x": "epoch", "steps": steps, "values": val},
        ],
        "analysis": {
            "baseline": {"value": math.log(10), "kind": "uniform", "classes": 10},
            "held_out": [
                {"name": "val_loss", "best_step": 10, "early_stopping": {"stop_step": 20}},
            ],
        },
    }
    (figure,) = figures_for(evidence(None, data, AnswerSource.history), "Overfitting")
    root = ET.fromstring(figure.svg)
    said = texts_inside(figure.svg)  # every label, the early stop at the edge included, inside
    assert "early stop" in said and "best val_loss" in said
    assert any(t.startswith("ln 10 = 2.3") for t in said)
    assert len(root.findall(f"{SVG}line[@class='level']")) == 1
    assert "epoch" in said


@pytest.mark.skipif(not LIGHTNING.exists(), reason="the real histories are not in this checkout")
def test_a_real_history_exports_its_curves_with_the_baseline_and_the_best_point() -> None:
    from assistant.evidence import outcome_evidence
    from probes.history import history_outcome

    # the class count is a fact the user gives (issue 11: a baseline is never guessed from the first loss)
    outcome = history_outcome(str(LIGHTNING), classes=2)
    (figure,) = figures_for(outcome_evidence(outcome, AnswerSource.history), "Healthy")
    said = texts_inside(figure.svg)
    assert any(t.startswith("ln 2 = 0.693") for t in said)  # read by hand: 2 classes, ln 2
    assert "best val_loss" in said
