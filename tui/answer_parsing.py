"""Understanding what people type: "my train loss is 2.3 after 10 epochs, val 2.9", "train loss is
large", "yes", "10 classes".

Pure functions, no I/O and no Textual: the chat screen calls `understand()` and shows the result for
confirmation before anything is answered. Numbers are never judged on their own: a loss is only large
compared with something (a trivial predictor's loss, ln C for C classes, the training loss, or the
user's own target), so without a reference the result says what is missing instead of guessing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from typing import Literal

from rules.judgements import gradient_small, held_out_large, loss_large
from rules.questions import QUESTION_ORDER
from rules.schema import AnswerValue
from rules.thresholds import LOSS_LARGE_FRACTION, LOSS_SMALL_FRACTION
from tui.vocabulary import (
    COUNT_UNITS,
    HELP,
    LABELS,
    LARGE,
    LINK,
    MEASURE,
    NEGATED,
    NO,
    PATTERNS,
    SMALL,
    SUBJECTS,
    TOKEN,
    UNSURE,
    WHY,
    YES,
)

Intent = Literal["answer", "why", "measure", "help", "none"]


# "Large" against the trivial predictor, the rule the baselines probe states (probes/baselines.py;
# a test keeps them equal): at least half of the trivial loss is large, at most a fifth is small, and
# in between the user decides. Shown with the numbers; the user confirms before anything is sent.
LARGE_FRACTION_OF_BASELINE = LOSS_LARGE_FRACTION
SMALL_FRACTION_OF_BASELINE = LOSS_SMALL_FRACTION


@dataclass(frozen=True)
class UserNumbers:
    """Numbers the user TYPED so far (not measured by a probe); merged across messages."""

    train_loss: float | None = None
    val_loss: float | None = None
    test_loss: float | None = None
    epochs: int | None = None
    steps: int | None = None
    classes: int | None = None
    baseline: float | None = None
    target: float | None = None
    gradient_norm: float | None = None
    learning_rate: float | None = None
    lambda_max: float | None = None

    def merged(self, newer: UserNumbers) -> UserNumbers:
        """Newer values win; unknown ones keep what was said before."""
        values = {k: v for k, v in vars(newer).items() if v is not None}
        return replace(self, **values)

    def reference(self) -> tuple[float, str] | None:
        """The trivial predictor's loss the user gave, or ln C for C classes."""
        if self.baseline is not None:
            return self.baseline, f"your baseline {fmt(self.baseline)}"
        if self.classes is not None and self.classes >= 2:
            return math.log(
                self.classes
            ), f"ln {self.classes} = {fmt(math.log(self.classes))}, the loss of guessing uniformly"
        return None

    def describe(self) -> list[str]:
        names = {
            "train_loss": "training loss",
            "val_loss": "validation loss",
            "test_loss": "test loss",
            "epochs": "epochs",
            "steps": "steps",
            "classes": "classes",
            "baseline": "baseline loss",
            "target": "target loss",
            "gradient_norm": "gradient norm",
            "learning_rate": "learning rate",
            "lambda_max": "lambda_max",
        }
        return [f"{names[k]} {fmt(v)}" for k, v in vars(self).items() if v is not None]

    def is_empty(self) -> bool:
        return all(v is None for v in vars(self).values())


Measurements = UserNumbers  # the old name, kept for importers (they were never measured)


@dataclass(frozen=True)
class Claim:
    """One answer the text supports, with the reason in words (shown before anything is sent)."""

    question: str
    value: AnswerValue
    reason: str


@dataclass(frozen=True)
class Understanding:
    text: str
    intent: Intent = "none"
    claims: tuple[Claim, ...] = ()
    measurements: UserNumbers = field(default_factory=UserNumbers)
    missing: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()

    def is_empty(self) -> bool:
        return self.intent == "none" and not self.claims and self.measurements.is_empty()

    def summary(self, question_text: dict[str, str] | None = None) -> str:
        """Markdown for the confirmation step: what was understood, why, and what is still missing."""
        texts = question_text or {}
        lines: list[str] = []
        numbers = self.measurements.describe()
        if numbers:
            lines.append("Numbers: " + ", ".join(numbers) + ".")
        for claim in self.claims:
            label = texts.get(claim.question, claim.question)
            lines.append(f"- **{label}** → **{display_value(claim.value)}** ({claim.reason})")
        lines += [f"- _Assumed:_ {a}" for a in self.assumptions]
        lines += [f"- _Missing:_ {m}" for m in self.missing]
        return "\n".join(lines) if lines else "I could not find an answer or a number in that."


def fmt(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def display_value(value: str) -> str:
    return {"yes": "yes", "no": "no", "unsure": "not sure"}.get(value, value)


# -- tokens ----------------------------------------------------------------------------------------


def _number(token: str) -> float:
    if token.startswith("ln"):
        return math.log(int(re.sub(r"\D", "", token)))
    return float(token)


def _clauses(text: str) -> list[list[tuple[str, str]]]:
    """Tokens grouped into clauses (split at commas, 'and', 'but'); each token is (kind, text)."""
    clauses: list[list[tuple[str, str]]] = [[]]
    for match in TOKEN.finditer(text):
        kind = match.lastgroup or "word"
        if kind == "sep":
            clauses.append([])
        else:
            clauses[-1].append((kind, match.group()))
    return [c for c in clauses if c]


def extract_measurements(text: str) -> tuple[UserNumbers, tuple[str, ...]]:
    """Numbers with what they measure; a bare "loss 2.3" is taken as the training loss (and said so)."""
    found: dict[str, float | int] = {}
    assumptions: list[str] = []
    for clause in _clauses(text.lower()):
        label: str | None = None
        for i, (kind, tok) in enumerate(clause):
            if kind == "word":
                if tok in LABELS and not (tok == "loss" and label not in (None, "loss")):
                    label = LABELS[tok]
                elif tok in ("epoch",) and i + 1 < len(clause) and clause[i + 1][0] == "num":
                    found.setdefault("epochs", int(_number(clause[i + 1][1])))
                continue
            if i > 0 and clause[i - 1][1] in ("epoch", "step"):
                continue  # "epoch 10": handled with the word
            unit = clause[i + 1][1] if i + 1 < len(clause) and clause[i + 1][0] == "word" else ""
            if unit in COUNT_UNITS:
                found.setdefault(COUNT_UNITS[unit], int(_number(tok)))
                continue
            if label is None:
                continue
            key = label
            if key == "loss":
                key = "train_loss"
                if "train_loss" not in found:
                    assumptions.append(f"'loss {tok}' is the training loss")
            if key not in found:
                found[key] = _number(tok)
            label = None
    return UserNumbers(**found), tuple(assumptions)  # type: ignore[arg-type]  # keys: UserNumbers fields, built above


# -- words -----------------------------------------------------------------------------------------


def _word_claims(text: str) -> list[Claim]:
    claims: dict[str, Claim] = {}
    for qid, subject in SUBJECTS.items():
        large = re.search(subject + LINK + LARGE, text)
        small = re.search(subject + LINK + SMALL, text)
        negated_large = re.search(subject + r"\s+" + NEGATED + r"(?:large|high|big|bad)", text)
        negated_small = re.search(subject + r"\s+" + NEGATED + r"(?:small|low|good|fine)", text)
        if negated_large or (small and not large and not negated_small):
            match = negated_large or small
            claims[qid] = Claim(qid, "no", f"you said '{match.group()}'")  # type: ignore[union-attr]  # one of the two matched (the test above)
        elif negated_small or large:
            match = negated_small or large
            claims[qid] = Claim(qid, "yes", f"you said '{match.group()}'")  # type: ignore[union-attr]  # one of the two matched (the test above)
    for qid, pattern, value in PATTERNS:
        if qid in claims:
            continue
        match = re.search(pattern, text)
        if match:
            claims[qid] = Claim(qid, value, f"you said '{match.group().strip()}'")  # type: ignore[arg-type]  # PATTERNS hold answer values
    return list(claims.values())


def _plain_intent(text: str) -> tuple[Intent, AnswerValue | None]:
    bare = re.sub(r"[.!]+$", "", text).strip()
    if bare in YES:
        return "answer", "yes"
    if bare in NO:
        return "answer", "no"
    if bare in UNSURE:
        return "answer", "unsure"
    if bare in WHY:
        return "why", None
    if bare in MEASURE:
        return "measure", None
    if bare in HELP:
        return "help", None
    return "none", None


# -- numbers into answers --------------------------------------------------------------------------


def _number_claims(m: UserNumbers) -> tuple[list[Claim], list[str]]:
    claims: list[Claim] = []
    missing: list[str] = []
    if m.train_loss is not None:
        claim = _train_claim(m)
        reference = m.reference()
        if claim:
            claims.append(claim)
        elif reference is not None and m.target is None:
            ratio = m.train_loss / reference[0]
            missing.append(
                f"a training loss of {fmt(m.train_loss)} is {ratio:.0%} of {reference[1]}: between "
                f"{SMALL_FRACTION_OF_BASELINE:.0%} (small) and {LARGE_FRACTION_OF_BASELINE:.0%} (large), "
                "so it is your call. Is it large for what you need? Answer yes or no, or give a target ('target 0.5')"
            )
        else:
            missing.append(
                f"is a training loss of {fmt(m.train_loss)} large? Tell me what to compare it with: "
                "the number of classes ('10 classes'), a trivial predictor's loss ('baseline 1.0'), "
                "or the loss that would be good enough ('target 0.1')"
            )
    for key, qid, name in (
        ("val_loss", "val_loss_large", "validation"),
        ("test_loss", "test_loss_large", "test"),
    ):
        value = getattr(m, key)
        if value is None:
            continue
        claim = _held_out_claim(value, qid, name, m)
        if claim:
            claims.append(claim)
        else:
            missing.append(
                f"is a {name} loss of {fmt(value)} large? Tell me the training loss or your target loss"
            )
    if m.gradient_norm is not None:
        j = gradient_small(m.gradient_norm)
        claims.append(Claim("gradient_norm_small", j.verdict, j.reason))
    if m.learning_rate is not None and m.lambda_max is not None and m.lambda_max > 0:
        limit = 2 / m.lambda_max
        above = m.learning_rate > limit
        claims.append(
            Claim(
                "learning_rate_exceeds_stability",
                "yes" if above else "no",
                f"learning rate {fmt(m.learning_rate)} is {'above' if above else 'not above'} "
                f"2 / lambda_max = {fmt(limit)}",
            )
        )
    return claims, missing


def _train_claim(m: UserNumbers) -> Claim | None:
    """The one rule for a loss against the trivial loss (rules/judgements.py); the grey zone asks."""
    assert m.train_loss is not None
    if m.target is not None:
        j = loss_large(m.train_loss, math.nan, target=m.target)
        return Claim("train_loss_large", j.verdict, j.reason)
    reference = m.reference()
    if reference is None or reference[0] <= 0:
        return None
    base, label = reference
    j = loss_large(m.train_loss, base)
    if j.verdict == "unsure":
        return None  # the grey zone: the caller asks
    rule = (
        f"{LARGE_FRACTION_OF_BASELINE:.0%} or more of the trivial loss is large"
        if j.verdict == "yes"
        else f"{SMALL_FRACTION_OF_BASELINE:.0%} or less of the trivial loss is small"
    )
    return Claim(
        "train_loss_large",
        j.verdict,
        f"{fmt(m.train_loss)} is {j.numbers['fraction']:.0%} of {label}; {rule}",
    )


def _held_out_claim(value: float, qid: str, name: str, m: UserNumbers) -> Claim | None:
    """The one held-out rule (rules/judgements.py): against the trivial loss when the user gave a
    baseline or a number of classes, else against the training loss; its grey zone asks."""
    if m.target is None and (m.train_loss is None or m.train_loss <= 0):
        return None
    reference = m.reference()
    j = held_out_large(
        value,
        m.train_loss if m.train_loss is not None else math.nan,
        trivial=reference[0] if reference else None,
        target=m.target,
        name=name,
    )
    if j.verdict == "unsure":
        return None
    return Claim(qid, j.verdict, j.reason)


# -- the one entry point ---------------------------------------------------------------------------


def understand(
    text: str, current_question: str | None = None, known: UserNumbers | None = None
) -> Understanding:
    """What `text` says, given the question on screen and the numbers told earlier.

    A plain "yes"/"no"/"not sure" answers the current question. Words ("train loss is large") and
    numbers compared with a reference become claims with their reasons. Nothing is sent from here:
    the caller confirms with the user first.
    """
    lowered = " ".join(text.lower().replace("’", "'").split())
    intent, value = _plain_intent(lowered)
    if intent == "answer" and value is not None and current_question:
        return Understanding(text, "answer", (Claim(current_question, value, f"you said '{text.strip()}'"),))
    if intent in ("why", "measure", "help"):
        return Understanding(text, intent)
    said, assumptions = extract_measurements(lowered)
    merged = (known or UserNumbers()).merged(said)
    claims = {c.question: c for c in _word_claims(lowered)}
    number_claims, missing = _number_claims(merged) if not said.is_empty() else ([], [])
    for claim in number_claims:
        claims.setdefault(claim.question, claim)  # what the user said in words wins over our rule
    ordered = tuple(sorted(claims.values(), key=lambda c: QUESTION_ORDER.index(c.question)))
    # a question a claim settles no longer needs its number explained
    missing = [m for m in missing if not any(_missing_for(m) == c.question for c in ordered)]
    return Understanding(text, "answer" if ordered else "none", ordered, said, tuple(missing), assumptions)


def _missing_for(message: str) -> str:
    if "training loss of" in message:
        return "train_loss_large"
    if "validation loss" in message:
        return "val_loss_large"
    return "test_loss_large"
