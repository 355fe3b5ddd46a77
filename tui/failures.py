"""What failed and what to do next, in plain words: every failure becomes a message in the chat.

Pure (no Textual): the chat screen mounts the Markdown; tests read it. The advice is keyed on the
kind of failure the probe reported, its error's stable code (`ProbeJob.error_code`, traindoc/errors.py),
never on the words of its message, so a user is never left with a toast that vanishes and a key that
fails again the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from traindoc.errors import JobTimedOut, ProbeOutOfMemory, SetupMismatch, TrainingDiverged

PROBE_NAMES = {
    "baselines": "the training-loss measurement (baselines probe)",
    "depth": "the depth comparison (depth probe)",
    "curvature": "the curvature measurement (curvature probe)",
    "generalization": "the held-out loss measurement (generalization probe)",
    "auto": "the automatic diagnosis",
}


@dataclass(frozen=True)
class Advice:
    code: str  # the error code (traindoc/errors.py) this advice answers
    text: str


ADVICE = (
    Advice(
        ProbeOutOfMemory.code,
        "The setup needs more memory than there is: lower `batch_size` (or the model's width) in your "
        "setup file.",
    ),
    Advice(
        TrainingDiverged.code,
        "Training diverged with your setup's recipe: lower the learning rate in the setup's `optimizer` "
        "(or add gradient clipping). That the loss blows up is itself a finding: answer **yes** when I "
        "ask whether the loss diverged.",
    ),
    Advice(
        JobTimedOut.code,
        "The measurement took longer than the service allows: lower `steps` in your setup (or the "
        "probe options, **o**), or start the service with a longer job timeout.",
    ),
    Advice(
        SetupMismatch.code,
        "The model, the data and the loss do not fit together: check the shapes in your setup file.",
    ),
)
GENERIC = "Fix your setup file (the message above says where)."
RESTART = (
    "Then restart with the same `--setup` and `--resume`: everything answered so far is saved. "
    "Meanwhile you can answer the question yourself: **y**, **n** or **u**."
)


def probe_failed_markdown(probe: str, error: str | None, code: str | None = None) -> str:
    """The chat message for a probe that failed: what, why (its one line), and what to do next (by
    its error code)."""
    what = PROBE_NAMES.get(probe, f"the {probe} probe")
    reason = error or "it ended without a result"
    return (
        f"**I could not finish {what}:** {reason}\n\n"
        f"{advice_for(code)} {RESTART}\n\n"
        "_I won't offer this measurement again in this session._"
    )


def request_failed_markdown(message: str) -> str:
    """A call to the service that failed (not a probe): say so and how to go on."""
    return (
        f"**That did not work:** {message}\n\n"
        "Nothing you answered before is lost. Try again; if the service is gone, quit with **q** and "
        "start traindoc again with `--resume`."
    )


def advice_for(code: str | None) -> str:
    """What to do about a failure with this error code (the generic advice for any other code)."""
    return _BY_CODE.get(code or "", GENERIC)


_BY_CODE = {advice.code: advice.text for advice in ADVICE}
