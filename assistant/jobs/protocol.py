"""What the parent (runner.py) and the child (worker.py) of a probe job agree on.

The parent writes one JSON request line to the child's stdin and keeps stdin open; closing it means
"stop" (so a child also stops when the server dies). The child writes JSON lines to a dedicated pipe
(not stdout: user code may print): `progress`, then one `result`, `error` or `cancelled`.
"""

from __future__ import annotations

AUTO = "auto"  # the whole automatic walk of the flowchart (assistant.autorun.run_automatic)
STOP_GRACE_S = 5.0  # how long a stopped child may take to wind down before it is killed
PROGRESS_INTERVAL_S = 0.1  # the child sends at most ten progress reports a second
# what the parent runs in the child; -P keeps the working directory off its import path
CHILD_CODE = "from assistant.jobs.worker import main; main()"
