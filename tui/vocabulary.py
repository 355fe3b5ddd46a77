"""The words `tui.answer_parsing` understands: plain answers, what a number measures, and the phrases
that say a loss is large or small. Data only, so the vocabulary can grow without touching the parser."""

from __future__ import annotations

import re

# -- whole messages --------------------------------------------------------------------------------

YES = {
    "y",
    "yes",
    "yeah",
    "yep",
    "yup",
    "sure",
    "correct",
    "right",
    "true",
    "it is",
    "indeed",
    "affirmative",
}
NO = {"n", "no", "nope", "nah", "false", "it isn't", "it is not", "not really", "negative"}
UNSURE = {
    "u",
    "?",
    "not sure",
    "unsure",
    "idk",
    "i don't know",
    "i dont know",
    "don't know",
    "dont know",
    "no idea",
    "maybe",
    "dunno",
    "no clue",
    "not certain",
}
WHY = {
    "why",
    "why?",
    "why do you ask",
    "why do you ask?",
    "why are you asking",
    "why are you asking?",
    "explain",
}
MEASURE = {
    "measure",
    "measure it",
    "measure it for me",
    "run it",
    "check it",
    "you check",
    "run the probe",
    "m",
}
HELP = {"help", "h", "what can i type", "commands"}


# -- numbers and what they measure -----------------------------------------------------------------

NUMBER = r"ln\s*\(?\s*\d+\s*\)?|[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?"
TOKEN = re.compile(rf"(?P<num>{NUMBER})|(?P<word>[a-z_']+)|(?P<sep>[,;/]|\band\b|\bbut\b|\bwhile\b)")

LABELS: dict[str, str] = {
    "train": "train_loss",
    "training": "train_loss",
    "trn": "train_loss",
    "val": "val_loss",
    "valid": "val_loss",
    "validation": "val_loss",
    "dev": "val_loss",
    "eval": "val_loss",
    "test": "test_loss",
    "testing": "test_loss",
    "baseline": "baseline",
    "chance": "baseline",
    "trivial": "baseline",
    "uniform": "baseline",
    "target": "target",
    "goal": "target",
    "enough": "target",  # "good enough is 0.5"
    "want": "target",
    "aim": "target",
    "loss": "loss",
    "gradient": "gradient_norm",
    "grad": "gradient_norm",
    "lr": "learning_rate",
    "rate": "learning_rate",  # "learning rate 0.1"
    "lambda_max": "lambda_max",
    "lambda": "lambda_max",
    "sharpness": "lambda_max",
}
COUNT_UNITS = {
    "epoch": "epochs",
    "epochs": "epochs",
    "step": "steps",
    "steps": "steps",
    "iterations": "steps",
    "iters": "steps",
    "class": "classes",
    "classes": "classes",
    "categories": "classes",
    "labels": "classes",
}


# -- phrases ---------------------------------------------------------------------------------------

SUBJECTS: dict[str, str] = {
    "train_loss_large": r"(?:train(?:ing)?)(?:\s+set)?\s+(?:loss|error|cost)",
    "test_loss_large": r"(?:test(?:ing)?)(?:\s+set)?\s+(?:loss|error|cost)",
    "val_loss_large": r"(?:val(?:id(?:ation)?)?|dev)(?:\s+set)?\s+(?:loss|error|cost)",
}
LARGE = r"(?:large|high|big|huge|bad|terrible|poor|awful|stuck|too high|not (?:small|low|good|great|fine|ok|okay))"
SMALL = r"(?:small|low|fine|ok|okay|good|great|tiny|near zero|close to zero|not (?:large|high|big|bad))"
LINK = r"(?:\s+(?:is|was|are|were|seems|looks|stays|remains|gets|got|still|very|quite|really|pretty|too|rather|kind of|fairly))*\s+"
NEGATED = r"(?:is not|isn't|isnt|was not|wasn't|not)\s+"

PATTERNS: tuple[tuple[str, str, str], ...] = (
    (
        "deeper_model_worse",
        r"deeper\s+(?:\w+\s+){0,3}?(?:is|was|trains|does|gets|reaches|ends)?\s*(?:\w+\s+)?(?:worse|higher)",
        "yes",
    ),
    (
        "deeper_model_worse",
        r"deeper\s+(?:\w+\s+){0,3}?(?:is|was|trains|does|gets|reaches)?\s*(?:\w+\s+)?(?:better|lower|the same|equal|no worse|not worse)",
        "no",
    ),
    (
        "simple_model_better",
        r"(?:linear|logistic|simple|simpler)\s+(?:\w+\s+){0,3}?(?:is|was|does|gets|reaches)?\s*(?:\w+\s+)?(?:better|lower)",
        "yes",
    ),
    (
        "simple_model_better",
        r"(?:linear|logistic|simple|simpler)\s+(?:\w+\s+){0,3}?(?:is|was|does|gets|reaches)?\s*(?:\w+\s+)?(?:worse|higher)",
        "no",
    ),
    (
        "gradient_norm_small",
        r"gradients?(?:\s+norm)?" + LINK + r"(?:not small|large|big|huge|not zero|not near zero)",
        "no",
    ),
    (
        "gradient_norm_small",
        r"gradients?(?:\s+norm)?" + LINK + r"(?:small|tiny|zero|near zero|close to zero|vanish\w*)",
        "yes",
    ),
    ("gradient_norm_small", r"vanishing gradients?", "yes"),
    ("hessian_negative_eigenvalue", r"\bno negative eigenvalues?", "no"),
    ("hessian_negative_eigenvalue", r"(?:has|have|with|a|some|clearly)\s+negative eigenvalues?", "yes"),
    ("loss_diverged", r"\b(?:diverg\w*|nan|blew up|blows up|blown up|explod\w*|inf)\b", "yes"),
)
