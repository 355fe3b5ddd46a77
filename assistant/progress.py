"""Progress on stderr: a one-line bar in a terminal, nothing when stderr is not a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from probes.base import ProbeProgress


class TerminalProgress:
    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None, width: int = 28) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.width = width
        self._last = 0.0
        self._open = False

    def __call__(self, p: ProbeProgress) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if p.done < p.total and now - self._last < 0.1:
            return  # at most ten redraws a second
        self._last = now
        frac = 0.0 if p.total <= 0 else min(1.0, p.done / p.total)
        filled = int(frac * self.width)
        est = " ".join(f"{k}={v:.4g}" for k, v in list(p.estimate.items())[:3])
        line = f"\r[{'#' * filled}{'.' * (self.width - filled)}] {p.probe} {p.message} {est}"
        self.stream.write(line[:120].ljust(120))
        self.stream.flush()
        self._open = True

    def close(self) -> None:
        if self.enabled and self._open:
            self.stream.write("\r" + " " * 120 + "\r")
            self.stream.flush()
            self._open = False
