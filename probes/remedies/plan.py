"""Which of the lecture's remedies can be measured for each finding, and which stay advice.

Knowledge only: ids and words. `probes.remedies.run` turns each id into a trial on the setup.
Remedy ids are a public contract (they appear in JSON): add, never rename.
"""

from __future__ import annotations

# finding id -> the remedies tried on the setup, in the order they are shown
TRIED: dict[str, tuple[str, ...]] = {
    "optimization_issue": ("momentum", "adam", "lr_range", "longer", "shallower", "model_options"),
    "saddle_point": ("escape_step", "momentum", "adam", "shallower"),
    "not_at_critical_point": ("adam", "momentum", "lr_range", "longer"),
    "local_minimum": ("momentum", "adam", "longer"),
    "learning_rate_too_high": ("stable_lr", "warmup", "adam"),
    "diverged": ("lower_lr", "warmup"),
    "model_bias": ("deeper", "model_options"),
    "overfitting": (
        "early_stopping",
        "weight_decay",
        "smaller",
        "learning_curve",
        "augment",
        "model_options",
    ),
    "mismatch": (),
    "healthy": (),
    "healthy_without_test": (),
}

TITLES: dict[str, str] = {
    "momentum": "Momentum 0.9",
    "adam": "Adam, an adaptive optimizer",
    "lr_range": "Learning-rate range test, then train at the rate it suggests",
    "longer": "Train longer (the loss was still falling)",
    "escape_step": "Step along the negative-curvature eigenvector, then train",
    "shallower": "A shallower model",
    "stable_lr": "The stable learning rate from lambda_max",
    "warmup": "Learning-rate warm-up",
    "lower_lr": "A 10x smaller learning rate",
    "deeper": "A deeper model",
    "model_options": "A model variant your Setup offers",
    "early_stopping": "Early stopping at the best held-out step",
    "weight_decay": "Weight decay",
    "smaller": "A smaller model",
    "learning_curve": "More data (estimated from a learning curve)",
    "augment": "Data augmentation (your Setup.augment)",
}

# remedies that need the user's code or data: listed, marked "not tried", with how to make them triable
ADVICE: dict[str, tuple[tuple[str, str], ...]] = {
    "optimization_issue": (
        (
            "normalization",
            "Batch normalization or residual connections: add them as an option of Setup.model and list "
            "it in Setup.model_options to have it measured.",
        ),
    ),
    "model_bias": (
        ("more_features", "Give the model more input features (e.g. more days of history)."),
        (
            "architecture",
            "A more expressive architecture for the data: offer it as an option of Setup.model "
            "(Setup.model_options) to have it measured.",
        ),
    ),
    "overfitting": (
        (
            "augment",
            "Data augmentation that makes sense for the data: give Setup.augment to have it measured.",
        ),
        (
            "dropout",
            "Dropout: accept a `dropout` keyword in Setup.model and list values in Setup.model_options "
            "(e.g. {'dropout': [0.2]}) to have it measured.",
        ),
    ),
    "healthy_without_test": (
        (
            "test_set",
            "Nothing to fix on the data you have; mismatch cannot be checked without a test set: evaluate "
            "on one drawn the way the real data will be (another period, source or sensor).",
        ),
    ),
    "mismatch": (
        (
            "matching_data",
            "Training changes cannot fix a mismatch. Find out how the test data were produced and "
            "collect training data that looks like them (or weight the training examples that do).",
        ),
    ),
}

# the loss the remedies of a finding are judged on: the flowchart's question for that finding
JUDGED_ON: dict[str, str] = {"overfitting": "val"}

# remedies whose "after" is an estimate of something the user cannot switch on (more data): shown,
# never named as the best step
ESTIMATES = frozenset({"learning_curve"})
