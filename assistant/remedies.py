"""Trying the remedies from the assistant's side: which findings to treat, and the report as Markdown.

The measuring lives in `probes.remedies`; this module decides what to treat from a diagnosis and
renders the result for people (the CLI's text output and the Markdown export).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistant.models import Report

if TYPE_CHECKING:
    from probes.context import ProbeContext
    from probes.remedies.result import RemedyReport


def findings_to_treat(report: Report) -> list[str]:
    return [f.id for f in report.findings]


def diagnose_and_treat(
    ctx: ProbeContext, findings: list[str] | None = None, *, workers: int = 1
) -> tuple[Report | None, RemedyReport]:
    """Diagnose automatically when `findings` is None (sharing the context, so the user's model is
    trained once for both), then try the remedies of what was found."""
    from probes.remedies.run import try_remedies

    report = None
    if findings is None:
        from assistant.autorun import run_automatic
        from assistant.session import Session

        session = Session()
        run_automatic(session, ctx)
        report = session.report()
        findings = findings_to_treat(report)
    return report, try_remedies(ctx, findings, workers=workers)


def _loss(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def remedies_markdown(rr: RemedyReport) -> str:
    metric = rr.metric
    lines = [
        "## Remedies tried on your setup",
        "",
        f"Findings treated: {', '.join(rr.findings) or 'none'}. Judged on the **{metric}** loss; your "
        f"recipe reaches train {_loss(rr.baseline.train)}, val {_loss(rr.baseline.val)}, test "
        f"{_loss(rr.baseline.test)}.",
        "",
        f"**{rr.recommendation}**",
        "",
    ]
    tried = [x for x in rr.remedies if x.status != "not_tried"]
    if tried:
        lines += [
            f"| remedy | setting | {metric} before | {metric} after | change | margin | verdict | cost (runs) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for x in tried:
            change = "—" if x.change is None else f"{x.change:+.3g}"
            margin = "—" if x.margin is None else f"{x.margin:.3g}"
            lines.append(
                f"| {x.title} | {x.setting or '—'} | {_loss(x.before.get(metric))} | {_loss(x.after.get(metric))} "
                f"| {change} | {margin} | {x.status.replace('_', ' ')} | {x.cost_runs:g} |"
            )
        lines.append("")
        notes = [x for x in tried if x.note]
        lines += [f"- {x.title}: {x.note}" for x in notes]
        if notes:
            lines.append("")
    advice = [x for x in rr.remedies if x.status == "not_tried"]
    if advice:
        lines += ["**Not tried** (needs your code or data):", ""]
        lines += [f"- {x.note}" for x in advice] + [""]
    if rr.rules:
        lines += ["**How it was judged:**", ""] + [f"- {rule}" for rule in rr.rules] + [""]
    lines.append(f"_Cost: {rr.cost_runs:g} training runs of your setup, {rr.seconds:.1f} s._")
    lines.append("")
    return "\n".join(lines)
