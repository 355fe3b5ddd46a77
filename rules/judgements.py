"""The flowchart's judgements as pure functions: one definition each, used by every caller.

The probes (measured numbers), the history reader (numbers read from a log), the TUI's free text
(numbers the user typed) and the service all ask the same few questions of numbers: is this loss
large, is this held-out loss large, is this gradient zero, is this eigenvalue negative. Each function
here returns the verdict (yes / no / unsure), the numbers it used and the sentence that explains it,
so the same numbers get the same answer wherever they come from. No I/O, no torch.

Held-out loss, the lecture's reading (overfitting = small training loss, large loss on held-out data
from the same distribution): "large" means large for the TASK, so the scale is the trivial predictor's
loss (ln C for C balanced classes), not the training loss. Example: train 0.30, validation 0.40,
10 classes. The validation loss is 0.40 / ln 10 = 17% of the trivial loss (small by the same rule as
the training loss) and its gap to training, 0.10, is 4% of the trivial loss, below the material gap
of 10%: validation_loss_large = no. A ratio of 1.33x to the training loss alone would call it large,
but a ratio is not a scale: 0.04 vs 0.03 is also 1.33x. Only when no trivial loss is known does the
ratio decide, and then with a grey zone between 1.4x and 1.5x.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rules.thresholds import LOSS_LARGE_FRACTION, LOSS_SMALL_FRACTION

if TYPE_CHECKING:  # a type only: `traindoc --help` reads this module and must not load rules.schema
    from rules.schema import AnswerValue as Verdict  # a judgement's verdict is the answer it gives

# A gap between held-out and training loss is material at >= a tenth of the trivial loss...
GAP_FRACTION = 0.1
# ...and real only beyond Z standard errors of the two losses (one-sided, ~0.1% by chance).
GAP_Z = 3.0
# Without a trivial loss, the ratio to the training loss decides: >= 1.5x large, < 1.4x not large.
GAP_RATIO_LARGE = 1.5
GAP_RATIO_SMALL = 1.4
# HW2-2's convention: a gradient norm below this counts as zero (a critical point).
GRADIENT_ZERO = 1e-3
# lambda_min is clearly negative below -NEGATIVE_FRACTION x the spectral radius (relative, so the
# verdict does not depend on the loss's units).
NEGATIVE_FRACTION = 1e-3


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    reason: str  # one sentence with the numbers, for the user
    numbers: dict[str, float] = field(default_factory=dict)


def _g(x: float) -> str:
    return f"{x:.4g}"


def loss_large(loss: float, baseline: float, floor: float = 0.0, target: float | None = None) -> Judgement:
    """Is `loss` large against the trivial predictor's loss `baseline` (above an irreducible `floor`,
    e.g. label smoothing)? >= half of it: large; <= a fifth: small; in between only the user's
    `target` can tell (unsure)."""
    if target is not None:
        above = loss > target
        return Judgement(
            "yes" if above else "no",
            f"{_g(loss)} is {'above' if above else 'at or below'} your target {_g(target)}",
            {"loss": loss, "target": target},
        )
    span = baseline - floor
    if not span > 0:
        return Judgement(
            "unsure", f"no usable trivial loss ({_g(baseline)})", {"loss": loss, "baseline": baseline}
        )
    fraction = (loss - floor) / span
    nums = {"loss": loss, "baseline": baseline, "floor": floor, "fraction": fraction}
    where = f"{_g(loss)} is {fraction:.0%} of the trivial loss {_g(baseline)}"
    if fraction >= LOSS_LARGE_FRACTION:
        return Judgement("yes", f"{where}; {LOSS_LARGE_FRACTION:.0%} or more is large", nums)
    if fraction <= LOSS_SMALL_FRACTION:
        return Judgement("no", f"{where}; {LOSS_SMALL_FRACTION:.0%} or less is small", nums)
    return Judgement(
        "unsure",
        f"{where}: between {LOSS_SMALL_FRACTION:.0%} (small) and {LOSS_LARGE_FRACTION:.0%} (large), your call",
        nums,
    )


def held_out_large(
    held_out: float,
    train: float,
    trivial: float | None = None,
    held_out_se: float | None = None,
    train_se: float | None = None,
    target: float | None = None,
    name: str = "held-out",
    scale: float | None = None,
) -> Judgement:
    """Is a held-out (validation/test) loss large? The inputs say what is known.

    - a user `target`: it alone decides;
    - the `trivial` loss on that split: >= half of it is large; else large when the gap to the
      training loss is material (>= GAP_FRACTION of the trivial loss) and, with standard errors,
      beyond GAP_Z of them (material but within noise: unsure); otherwise not large;
    - neither: the ratio to the training loss, >= GAP_RATIO_LARGE large, < GAP_RATIO_SMALL not;
      with a rough loss `scale` instead (a history's first loss: about the trivial loss at
      initialisation), the gap must also be material against it (>= GAP_FRACTION x scale) to be
      large, and is not large below that: 0.04 vs 0.02 is 2x but no real gap on a scale of 1.
    """
    head = f"{name} loss {_g(held_out)} vs training {_g(train)}"
    if target is not None:
        above = held_out > target
        return Judgement(
            "yes" if above else "no",
            f"{name} loss {_g(held_out)} is {'above' if above else 'at or below'} your target {_g(target)} -> {'large' if above else 'not large'}",
            {"held_out": held_out, "train": train, "target": target},
        )
    gap = held_out - train
    if trivial is not None and trivial > 0:
        fraction = held_out / trivial
        material = GAP_FRACTION * trivial
        nums = {"held_out": held_out, "train": train, "trivial": trivial, "fraction": fraction, "gap": gap}
        if fraction >= LOSS_LARGE_FRACTION:
            return Judgement(
                "yes",
                f"{head}: {fraction:.0%} of the trivial loss {_g(trivial)} (>= {LOSS_LARGE_FRACTION:.0%}) -> large",
                nums,
            )
        detail = f"{head}: {fraction:.0%} of the trivial loss {_g(trivial)}, gap {_g(gap)} (material at >= {GAP_FRACTION:.0%} of it = {_g(material)}"
        if held_out_se is not None and train_se is not None:
            noise = GAP_Z * math.hypot(held_out_se, train_se)
            nums["noise"] = noise
            detail += f", beyond noise at > {GAP_Z:g} standard errors = {_g(noise)})"
        else:
            noise = 0.0
            detail += ")"
        if gap >= material and gap > noise:
            return Judgement("yes", f"{detail} -> large", nums)
        if gap >= material:
            return Judgement(
                "unsure", f"{detail} -> material but within noise: too few samples to tell", nums
            )
        return Judgement("no", f"{detail} -> not large", nums)
    if not train > 0:
        return Judgement(
            "unsure", f"{head}: no trivial loss and no positive training loss to compare with", {}
        )
    ratio = held_out / train
    nums = {"held_out": held_out, "train": train, "ratio": ratio, "gap": gap}
    rule = f"(no trivial loss known: >= {GAP_RATIO_LARGE:g}x large, < {GAP_RATIO_SMALL:g}x not)"
    text = f"{head}: {ratio:.2f}x the training loss {rule}"
    material = True
    if scale is not None and scale > 0:
        nums["scale"] = scale
        material = gap >= GAP_FRACTION * scale
        text += (
            f"; gap {_g(gap)} {'>=' if material else '<'} {GAP_FRACTION:.0%} of the loss scale {_g(scale)}"
        )
    if ratio >= GAP_RATIO_LARGE and material:
        return Judgement("yes", f"{text} -> large", nums)
    if ratio < GAP_RATIO_SMALL or not material:
        return Judgement("no", f"{text} -> not large", nums)
    return Judgement("unsure", f"{text} -> between the two: unsure", nums)


def gradient_small(norm: float, threshold: float = GRADIENT_ZERO) -> Judgement:
    """Is the gradient norm zero for the flowchart (a critical point)? Below `threshold`."""
    small = norm < threshold
    return Judgement(
        "yes" if small else "no",
        f"gradient norm {norm:.4g} is {'below' if small else 'not below'} {threshold:g}, the homework's threshold for zero",
        {"gradient_norm": norm, "threshold": threshold},
    )


def eigenvalue_negative(lambda_min: float, radius: float, fraction: float = NEGATIVE_FRACTION) -> Judgement:
    """Is the Hessian's smallest eigenvalue clearly negative: below -`fraction` x the spectral radius?"""
    tau = fraction * radius
    clear = lambda_min < -tau
    return Judgement(
        "yes" if clear else "no",
        f"lambda_min {lambda_min:.4g} {'<' if clear else '>='} -{fraction:g} x spectral radius {radius:.4g} = {-tau:.3g}",
        {"lambda_min": lambda_min, "radius": radius, "tolerance": tau},
    )
