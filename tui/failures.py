"""What failed and what to do next, in plain words: every failure becomes a message in the chat.

Pure (no Textual): the chat screen mounts the Markdown; tests read it. The advice is keyed on the
kind of failure the probe reported (its one-line error), so a user is never left with a toast that
vanishes and a key that fails again the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

PROBE_NAMES = {
    "baselines": "the training-loss measurement (baselines probe)",
    "depth": "the depth comparison (depth probe)",
    "curvature": "the curvature measurement (curvature probe)",
    "generalization": "the held-out loss measurement (generalization probe)",
    "auto": "the automatic diagnosis",
}


@dataclass(frozen=True)
class Advice:
    words: tuple[str, ...]  # any of these in the error (lower case) selects this advice
    text: str


ADVICE = (
    Advice(
        ("out of memory", "memoryerror", "cannot allocate"),
        "The setup needs more memory than there is: lower `batch_size` (or the model's width) in your "
        "setup file.",
    ),
    Advice(
        ("turned nan", "turned inf", "diverged", "non-finite", "nan loss"),
        "Training diverged with your setup's recipe: lower the learning rate in the setup's `optimizer` "
        "(or add gradient clipping). That the loss blows up is itself a finding: answer **yes** when I "
        "ask whether the loss diverged.",
    ),
    Advice(
        ("timed out",),
        "The measurement took longer than the service allows: lower `steps` in your setup (or the "
        "probe options, **o**), or start the service with a longer job timeout.",
    ),
    Advice(
        ("shape", "mat1 and mat2", "size mismatch", "target size"),
        "The model, the data and the loss do not fit together: check the shapes in your setup file.",
    ),
)
GENERIC = "Fix your setup file (the message above says where)."
RESTART = (
    "Then restart with the same `--setup` and `--resume`: everything answered so far is saved. "
    "Meanwhile you can answer the question yourself: **y**, **n** or **u**."
)


def probe_failed_markdown(probe: str, error: str | None) -> str:
    """The chat message for a probe that failed: what, why (its one line), and what to do next."""
    what = PROBE_NAMES.get(probe, f"the {probe} probe")
    reason = error or "it ended without a result"
    return (
        f"**I could not finish {what}:** {reason}\n\n"
        f"{advice_for(reason)} {RESTART}\n\n"
        "_I won't offer this measurement again in this session._"
    )


def request_failed_markdown(message: str) -> str:
    """A call to the service that failed (not a probe): say so and how to go on."""
    return (
        f"**That did not work:** {message}\n\n"
        "Nothing you answered before is lost. Try again; if the service is gone, quit with **q** and "
        "start traindoc again with `--resume`."
    )


def advice_for(error: str) -> str:
    lowered = error.lower()
    for advice in ADVICE:
        if any(word in lowered for word in advice.words):
            return advice.text
    return GENERIC
