"""The progress bar fits the terminal's width and leaves nothing behind.

Ground truth: what a terminal does with the bytes. `Screen` below is a minimal VT100 model written for
this test (carriage return, line feed, erase-line, cursor-up; a character past the last column wraps to
the next row, as xterm's autowrap does). A bar wider than the terminal wraps and stacks lines; a bar that
does not erase itself leaves text on the screen.
"""

from __future__ import annotations

import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from fcntl import ioctl

import pytest

from assistant.progress import TerminalProgress
from probes.base import ProbeProgress

CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")
LONG = "Lanczos step on the Hessian of a model whose description is much longer than any terminal"


class Screen:
    def __init__(self, columns: int, rows: int = 24) -> None:
        self.columns = columns
        self.lines = [[" "] * columns for _ in range(rows)]
        self.row = self.col = 0
        self.wrapped = 0

    def feed(self, text: str) -> None:
        i = 0
        while i < len(text):
            m = CSI.match(text, i)
            if m:
                self._csi(m.group(1), m.group(2))
                i = m.end()
                continue
            ch = text[i]
            i += 1
            if ch == "\r":
                self.col = 0
            elif ch == "\n":
                self.row += 1
            elif ch >= " ":
                if self.col >= self.columns:  # autowrap: the line was too long
                    self.wrapped += 1
                    self.row, self.col = self.row + 1, 0
                self.lines[self.row][self.col] = ch
                self.col += 1

    def _csi(self, args: str, command: str) -> None:
        if command == "K" and args == "2":
            self.lines[self.row] = [" "] * self.columns
        elif command == "A":
            self.row = max(0, self.row - int(args or 1))

    def text(self) -> str:
        return "\n".join("".join(line).rstrip() for line in self.lines).strip()


def updates(bar: TerminalProgress, steps: int = 6) -> None:
    for done in range(steps + 1):
        estimate = {"lambda_max": 12.3456789, "lambda_min": -0.00123456, "hvp": float(done)}
        bar(ProbeProgress(probe="curvature", done=done, total=steps, message=LONG, estimate=estimate))
        time.sleep(0.11)  # past the redraw throttle: every update is drawn


@pytest.mark.parametrize("columns", [40, 80, 200])
def test_fits_the_width_and_vanishes(columns: int) -> None:
    out = io.StringIO()
    bar = TerminalProgress(out, enabled=True, width=columns)
    updates(bar)
    drawn = out.getvalue()
    screen = Screen(columns)
    screen.feed(drawn)
    assert screen.wrapped == 0
    assert "100%" in drawn
    # what does not fit is cut, not wrapped: the message first, so that from 80 columns on the probe's
    # estimates are shown whole, and everything is shown on a wide terminal
    assert ("lambda_min=-0.001235 hvp=6" in drawn) == (columns >= 80)
    assert ("much longer than any terminal" in drawn) == (columns >= 200)
    bar.close()
    screen.feed(out.getvalue()[len(drawn) :])
    assert screen.text() == ""


def test_disabled_writes_nothing() -> None:
    out = io.StringIO()
    bar = TerminalProgress(out, enabled=False)
    updates(bar, steps=2)
    bar.close()
    assert out.getvalue() == ""


def test_not_a_terminal_means_no_bar_by_default() -> None:
    out = io.StringIO()  # isatty() is False: a log file or a pipe
    bar = TerminalProgress(out)
    updates(bar, steps=1)
    bar.close()
    assert out.getvalue() == ""


CHILD = """
import time
from assistant.progress import TerminalProgress
from probes.base import ProbeProgress
bar = TerminalProgress()  # stderr, enabled because it is a terminal, width read from the terminal
for done in range(5):
    bar(ProbeProgress(probe="depth", done=done, total=4, message={long!r} * 2))
    time.sleep(0.11)
bar.close()
print("report follows")
"""


def test_in_a_real_80_column_terminal() -> None:
    """A pseudo-terminal sized 80x24: the child reads the width from the terminal itself."""
    main, child = pty.openpty()
    ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(long=LONG)], stdin=child, stdout=child, stderr=child, env=env
    )
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=60) == 0
    os.close(main)
    output = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    assert "%" in output  # the bar was drawn
    screen = Screen(80)
    screen.feed(output)
    assert screen.wrapped == 0
    assert screen.text() == "report follows"
