"""Several models (or loss parts) in one file: `cls_loss`/`cls_val_loss` beside `reg_loss`/`reg_val_loss`.

A curve's group is what is left of its name once the split, the loss/metric word and the axis
suffixes are taken out: `cls_val_loss` -> "cls", `val_loss` and `train_loss_epoch` -> "" (the plain
group). Comparing one group's training loss with another's validation loss is meaningless, so one
group is analysed at a time: the one the user names, else the plain group, else the first with a
training loss; a warning names the others.
"""

from __future__ import annotations

from probes.history._models import History, Series
from probes.history._names import _AXIS_TOKENS, _HIGHER, _LOSS, _LOWER, _TEST, _TRAIN, _VAL, tokens

_DROP = _TRAIN | _VAL | _TEST | _AXIS_TOKENS | _LOSS | _HIGHER | _LOWER | {"cross", "entropy", "avg", "mean"}


def group_of(series: Series) -> str | None:
    """The model prefix of a loss or metric curve; None for curves every group shares (LR, grad norm)."""
    if series.role not in ("loss", "metric"):
        return None
    if series.eval_set is not None:
        return ""  # HF eval sets are data sets, not models
    return "_".join(t for t in tokens(series.name) if t not in _DROP)


def groups(history: History) -> list[str]:
    """Groups with a training loss, in file order."""
    out: list[str] = []
    for s in history.series:
        g = group_of(s)
        if s.role == "loss" and s.split == "train" and g is not None and g not in out:
            out.append(g)
    return out


def select_group(history: History, wanted: str | None) -> History:
    """The history restricted to one group (a copy); unchanged when the file has one group."""
    found = groups(history)
    if wanted is not None and wanted not in found:
        from probes.base import ProbeError

        shown = ", ".join(repr(g) for g in found) or "none"
        raise ProbeError(
            f"group {wanted!r} is not in {history.source}: its groups with a training loss are {shown}"
        )
    if len(found) < 2:
        return history
    held = {group_of(s) for s in history.series if s.role == "loss" and s.split != "train"}
    chosen = (
        wanted
        if wanted is not None
        else ""
        if "" in found
        else next((g for g in found if g in held), found[0])
    )
    series = [
        s
        for s in history.series
        if (g := group_of(s)) in (None, chosen) or (s.role == "metric" and g not in found and chosen == "")
    ]
    others = [g or "(plain)" for g in found if g != chosen]
    warnings = list(history.warnings)
    if wanted is None:
        warnings.append(
            f"the file logs the losses of {len(found)} models or loss parts ({', '.join(g or '(plain)' for g in found)}); "
            f"analysed {chosen or '(plain)'} on its own, not mixed with {', '.join(others)}: "
            f"pass --group {found[1] if chosen == found[0] else found[0] or chosen} to analyse another"
        )
    return history.model_copy(
        update={"series": series, "warnings": warnings, "group": chosen, "groups": found}
    )
