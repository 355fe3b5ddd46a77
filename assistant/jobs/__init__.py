"""Probe jobs: each runs in its own child process, off the server's event loop.

runner.py is the parent side (`JobRunner`: queue, spawn, follow, kill), worker.py the child side,
protocol.py what the two agree on, automatic.py the "auto" job (the whole walk) and its summary.
The names below stay importable from `assistant.jobs`, as before the split.
"""

from assistant.jobs.automatic import auto_summary
from assistant.jobs.child_log import LOG_TAIL_BYTES, LogTail
from assistant.jobs.protocol import AUTO, PROGRESS_INTERVAL_S, STOP_GRACE_S
from assistant.jobs.runner import JobQueueFull, JobRequest, JobResult, JobRunner
from assistant.jobs.worker import die_with_parent
from assistant.jobs.worker import main as worker_main

_die_with_parent = die_with_parent  # the old private name (assistant/api/histories.py used it)

__all__ = [
    "AUTO",
    "LOG_TAIL_BYTES",
    "PROGRESS_INTERVAL_S",
    "STOP_GRACE_S",
    "JobQueueFull",
    "JobRequest",
    "JobResult",
    "JobRunner",
    "LogTail",
    "auto_summary",
    "die_with_parent",
    "worker_main",
]
