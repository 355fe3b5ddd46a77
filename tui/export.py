"""Export a report: Markdown (the lead's `report_markdown`, plus the measured curves as SVG images
next to it) and JSON (the Report model, the same schema as `traindoc diagnose --json`)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import InputError
from assistant.models import Evidence, Report
from assistant.remedies import remedies_markdown
from assistant.render import report_markdown
from probes.remedies.result import RemedyReport
from tui.evidence import CurvePoints
from tui.figures import figures_for


@dataclass
class Exported:
    markdown: Path
    json: Path
    images: list[Path] = field(default_factory=list)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "plot"


def _unique_evidence(report: Report) -> list[tuple[str, Evidence]]:
    seen: list[Evidence] = []
    out: list[tuple[str, Evidence]] = []
    for finding in report.findings:
        for evidence in finding.evidence:
            if evidence not in seen:
                seen.append(evidence)
                out.append((finding.title, evidence))
    for answer in report.answers.values():
        if answer.evidence is not None and answer.evidence not in seen:
            seen.append(answer.evidence)
            out.append((answer.question, answer.evidence))
    return out


def export_report(
    report: Report,
    directory: Path,
    stem: str | None = None,
    seen: Mapping[str, Mapping[str, CurvePoints]] | None = None,
    remedies: Sequence[RemedyReport] = (),
) -> Exported:
    """Write `<stem>.md`, `<stem>.json` and `<stem>-plots/*.svg` into `directory` (created if needed).

    `seen`: curves watched live during this run, by probe. The figures are those of `tui.figures`:
    what each measurement rests on (the depth ladder, the loss against its baselines, eigenvalues,
    a history with its marks), not only the curves.
    `remedies`: the remedies tried in this run (the TUI's "try it"), added to both files when any ran:
    the Markdown gets their tables, the JSON a `remedies` key (a list of RemedyReport).
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {directory}: {exc.strerror or exc}") from None
    stem = stem or f"traindoc-report-{(report.session_id or 'session')[:8]}"
    md_path, json_path, plot_dir = (
        directory / f"{stem}.md",
        directory / f"{stem}.json",
        directory / f"{stem}-plots",
    )
    images: list[Path] = []
    sections: list[str] = []
    for index, (where, evidence) in enumerate(_unique_evidence(report), 1):
        for figure in figures_for(evidence, where, seen):
            plot_dir.mkdir(exist_ok=True)
            name = f"{index:02d}-{_slug(evidence.probe or evidence.source.value)}-{figure.stem}.svg"
            (plot_dir / name).write_text(figure.svg, encoding="utf-8")
            images.append(plot_dir / name)
            sections.append(f"### {figure.title}\n\n![{figure.title}]({plot_dir.name}/{name})\n")
    markdown = report_markdown(report)
    if sections:
        markdown = markdown.rstrip() + "\n\n## Plots\n\n" + "\n".join(sections)
    for rr in remedies:
        markdown = markdown.rstrip() + "\n\n" + remedies_markdown(rr)
    document = report.model_dump(mode="json")
    if remedies:
        document["remedies"] = [rr.model_dump(mode="json") for rr in remedies]
    try:
        md_path.write_text(markdown, encoding="utf-8")
        text = (
            json.dumps(document, indent=2, ensure_ascii=False)
            if remedies
            else report.model_dump_json(indent=2)
        )
        json_path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write the report into {directory}: {exc.strerror or exc}") from None
    return Exported(md_path, json_path, images)
