"""The end of a job child's output, kept to explain a crash (parent side)."""

from __future__ import annotations

import os
import signal

LOG_TAIL_BYTES = 64 * 1024


class LogTail:
    """The end of a child's output: everything is read (so the child never blocks on a full pipe),
    only the last LOG_TAIL_BYTES are kept."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = bytearray()
        self.total = 0
        os.set_blocking(fd, False)

    def read(self) -> bool:
        """Read what is there; False at the end of the output."""
        try:
            chunk = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not chunk:
            return False
        self.total += len(chunk)
        self.data += chunk
        if len(self.data) > LOG_TAIL_BYTES:
            del self.data[: len(self.data) - LOG_TAIL_BYTES]
        return True

    def drain(self) -> None:
        """After the child exited: what is left in the pipe (its grandchildren may hold it open)."""
        for _ in range(64):
            before = self.total
            if not self.read() or self.total == before:
                return

    def last_line(self, limit: int = 300) -> str:
        lines = [ln for ln in self.data.decode(errors="replace").splitlines() if ln.strip()]
        return lines[-1].strip()[:limit] if lines else ""


def death_message(code: int, log: LogTail) -> str:
    tail = log.last_line()
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        why = " (killed by the system, most likely out of memory)" if -code == signal.SIGKILL else ""
        return f"the probe process died from signal {name}{why}" + (f": {tail}" if tail else "")
    return f"the probe process exited with code {code}" + (f": {tail}" if tail else "")


def death_code(code: int) -> str:
    """The error code of a child that died without a word: SIGKILL is most likely the system's
    out-of-memory killer (the message says "most likely")."""
    from traindoc.errors import ProbeError, ProbeOutOfMemory

    return ProbeOutOfMemory.code if code == -signal.SIGKILL else ProbeError.code
