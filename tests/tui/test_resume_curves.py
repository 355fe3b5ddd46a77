"""Resume from another machine draws the curves watched live (issue 15): they are kept with the
session in the service (GET/PUT /sessions/{id}/curves), not only in the local $TRAINDOC_HOME.

A real embedded service on loopback with its SQLite file. "Another machine" is a second TUI whose
$TRAINDOC_HOME is empty: only the service's database can carry the curves there. The curves and the
depth ladder's evidence are written by the test, so what the card must draw is known.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.client import TraindocClient
from assistant.service_models import SessionCurves
from probes.base import ProbeOutcome
from tests.tui.conftest import ready
from tui import TraindocApp, session_store
from tui.widgets.curve_plot import CurvePlot
from tui.widgets.finding_card import FindingCard

CURVES = {
    "depth": {
        "depth 1": [(float(s), 2.3 * 0.9**s) for s in range(40)],
        "depth 10": [(float(s), 2.3 - 0.001 * s) for s in range(40)],
    }
}


def optimization_issue(client: TraindocClient) -> str:
    """A session whose depth ladder says: the deeper model trains worse (an optimization issue)."""
    sid = client.create_session().id
    client.answer(sid, "train_loss_large", "yes")
    outcome = ProbeOutcome(
        probe="depth",
        answers={"deeper_model_worse": "yes"},
        summary="depth 10 trains worse than depth 1",
        # the keys a depth outcome always carries (probes/results.py DepthResult checks them)
        data={
            "ladder": [{"depth": 1, "mean": 0.06}, {"depth": 10, "mean": 2.26}],
            "table": ["depth | mean", "1 | 0.06", "10 | 2.26"],
            "seeds": 2,
        },
    )
    client.apply_outcome(sid, outcome)
    return sid


async def card_curves(app: TraindocApp, size: tuple[int, int] = (110, 45)) -> dict[str, list]:
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        card = app.screen.query_one("#finding-optimization_issue", FindingCard)
        return {name: pts for plot in card.query(CurvePlot) for name, pts in plot.curves.items()}


async def test_resume_on_another_machine_draws_the_curves_kept_by_the_service(
    make_app: Callable[..., TraindocApp],
    make_client: Callable[..., TraindocClient],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = make_client()
    sid = optimization_issue(client)
    client.put_curves(sid, session_store.to_service(CURVES))
    monkeypatch.setenv("TRAINDOC_HOME", str(tmp_path / "another-machine"))  # no local files there
    drawn = await card_curves(make_app(resume=True, client=client))
    assert drawn["depth 10"] == CURVES["depth"]["depth 10"]
    assert not (tmp_path / "another-machine" / "tui-sessions").exists()


async def test_curves_in_the_old_local_file_are_still_drawn(
    make_app: Callable[..., TraindocApp], make_client: Callable[..., TraindocClient]
) -> None:
    client = make_client()
    sid = optimization_issue(client)
    session_store.save_curves(sid, CURVES)  # what versions before the endpoint wrote
    assert client.get_curves(sid).curves == {}
    drawn = await card_curves(make_app(resume=True, client=client))
    assert drawn["depth 1"] == CURVES["depth"]["depth 1"]


def test_curves_sent_to_the_service_are_finite_and_fit_one_request() -> None:
    nan_and_long = {
        "training": {
            f"depth {d}": [(float(s), float("nan") if s == 5 else 1.0 / (s + 1)) for s in range(5000)]
            for d in range(12)
        }
    }
    sent = session_store.to_service(nan_and_long)
    assert isinstance(sent, SessionCurves)
    points = [p for named in sent.curves.values() for pts in named.values() for p in pts]
    assert len(points) <= session_store.MAX_POINTS
    assert all(y == y for _, y in points)  # no NaN
    for pts in sent.curves["training"].values():
        assert pts[0] == (0.0, 1.0) and pts[-1] == (4999.0, 1.0 / 5000)  # first and last kept
        assert [x for x, _ in pts] == sorted(x for x, _ in pts)
    assert len(sent.model_dump_json()) < 256 * 1024  # the service's default body limit
