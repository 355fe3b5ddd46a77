"""Progress on stderr: one bar in a terminal, nothing when stderr is not a terminal.

Drawn by rich (installed with Textual): the line is laid out for the terminal's width, however narrow,
with the message cut by an ellipsis rather than wrapped, and it is erased when the work ends (transient),
so the report that follows starts on a clean line. rich is imported on the first update only:
`traindoc diagnose --answers` never draws a bar and never pays for it.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from probes.base import ProbeProgress

REDRAWS_PER_SECOND = 10


class TerminalProgress:
    def __init__(
        self, stream: TextIO | None = None, enabled: bool | None = None, width: int | None = None
    ) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.width = width  # None: the terminal's own width, read by rich (COLUMNS when set)
        self._last = 0.0
        self._bar: Any = None  # rich.progress.Progress once the first update arrives
        self._task: Any = None

    def __call__(self, p: ProbeProgress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if p.done < p.total and now - self._last < 1 / REDRAWS_PER_SECOND:
            return
        self._last = now
        if self._bar is None:
            self._open()
        est = " ".join(f"{k}={v:.4g}" for k, v in list(p.estimate.items())[:3])
        head = " ".join(part for part in (p.probe, est) if part)
        total = p.total if p.total > 0 else None
        self._bar.update(self._task, head=head, description=p.message, completed=p.done, total=total)
        self._bar.refresh()

    def _open(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
        from rich.table import Column

        force = None if self.stream.isatty() else True  # `--progress always` into a pipe or file
        console = Console(file=self.stream, width=self.width, force_terminal=force, highlight=False)
        # under 60 columns the bar itself goes: the percentage and the estimates matter more
        bar = [BarColumn(bar_width=16)] if console.width >= 60 else []
        self._bar = Progress(
            *bar,
            TaskProgressColumn(table_column=Column(no_wrap=True, min_width=4)),
            # the probe and its current estimates first: they are what the user watches; the message
            # takes the room that is left and is cut first
            TextColumn(
                "{task.fields[head]}", markup=False, table_column=Column(no_wrap=True, overflow="ellipsis")
            ),
            TextColumn(
                "{task.description}",
                markup=False,
                table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis"),
            ),
            TimeElapsedColumn(table_column=Column(no_wrap=True, min_width=7)),
            console=console,
            transient=True,  # the bar is erased when it stops
            auto_refresh=False,  # no drawing thread: redraws happen on updates, at most 10 a second
            expand=True,
            # the user's prints keep going to stdout (a --json report must stay alone there); writes to
            # stderr (warnings) are printed above the bar instead of through it
            redirect_stdout=False,
            redirect_stderr=True,
        )
        self._task = self._bar.add_task("", total=None, head="")
        self._bar.start()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
