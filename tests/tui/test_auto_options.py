"""`a` (diagnose automatically) runs with the options set in the form (issue 15), and a curvature
measurement made with `density` shows the eigenvalue density in its card (issue 18).

The real app on a real embedded service, the real `auto` job on the lecture's saddle demo. Ground
truth: the lecture's example has the Hessian's eigenvalues 2 and -2 (docs: demo saddle_point), so the
share of negative eigenvalues is exactly one half; the range the card states must contain it. The
default run has no density at all (`density` off), so a density can only come from the form.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.widgets import Input, Static

from tests.tui.conftest import idle, ready, run_palette_command, wait_for
from tui import TraindocApp
from tui.screens.probe_options import ProbeOptionsScreen
from tui.widgets.curve_plot import CurvePlot
from tui.widgets.finding_card import FindingCard

pytestmark = pytest.mark.slow
PROBE_WAIT_S = 300.0


async def test_a_uses_the_options_form_and_the_card_shows_the_density(
    make_app: Callable[..., TraindocApp],
) -> None:
    app = make_app("demo:saddle_point")
    async with app.run_test(size=(110, 45)) as pilot:
        await ready(pilot)
        # the palette offers every probe's options before `a` reaches it
        await run_palette_command(pilot, "Options of the curvature", "Options of the curvature probe")
        await wait_for(pilot, lambda: isinstance(app.screen, ProbeOptionsScreen), what="the options form")
        assert app.screen.probe == "curvature"  # type: ignore[attr-defined]
        field = app.screen.query_one("#option-density", Input)
        assert field.placeholder == "default: no"
        field.value = "yes"
        await pilot.click("#options-go")
        await wait_for(
            pilot, lambda: not isinstance(app.screen, ProbeOptionsScreen), what="the form to close"
        )
        assert app.chat.auto_options() == {"curvature": {"density": True}}
        await pilot.press("a")
        await wait_for(pilot, lambda: app.chat.job is not None, what="the automatic diagnosis to start")
        await wait_for(pilot, lambda: app.chat.job is None, PROBE_WAIT_S, "the automatic diagnosis")
        await idle(pilot)
        report = app.chat.report
        assert report is not None and "saddle_point" in [f.id for f in report.findings]
        card = app.screen.query_one("#finding-saddle_point", FindingCard)
        curvature = next(e for e in card.finding.evidence if e.probe == "curvature")
        density = curvature.data["density"]
        assert density is not None  # the option reached the probe through `a`
        low, high = density["negative_share"]["range"]
        assert low <= 0.5 <= high  # eigenvalues 2 and -2: half are negative
        plots = [p for p in card.query(CurvePlot) if p.has_class("density-plot")]
        assert plots and all(p.curves["density"] for p in plots)
        summary = str(card.query(".density-summary").results(Static).__next__().render())
        assert f"bounded to {low:.1%}–{high:.1%}" in summary
