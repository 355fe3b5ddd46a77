"""What `traindoc COMMAND --help` says besides the options: a description and examples.

One table for every command, applied to the parser after the commands registered themselves, so the
examples are kept together and a test can check that every command (and every probe) has them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

# command path -> (description, examples)
HELP: dict[str, tuple[str, str]] = {
    "": (
        "",
        "traindoc                                  # the assistant asks, you answer\n"
        "traindoc --demo saddle_point              # watch it diagnose a built-in demo\n"
        "traindoc --setup my_setup.py:setup        # it measures on your model\n"
        "traindoc diagnose --history runs/v0/ --json\n"
        "traindoc COMMAND --help                   # each command, with examples",
    ),
    "diagnose": (
        "Walk the whole flowchart in one go and print the report: from your answers, from a training "
        "history, or by measuring on your setup (the probes run in flowchart order, training once).",
        "traindoc diagnose --answers answers.json --json\n"
        "traindoc diagnose --history runs/version_0/\n"
        "traindoc diagnose --setup my_setup.py:setup --json\n"
        "traindoc diagnose --demo saddle_point\n"
        "traindoc diagnose --server http://box:8321 --setup mnist --token T",
    ),
    "chat": (
        "Hold a diagnosis over a line protocol: one JSON message per line on stdin, one JSON event per "
        "line on stdout (`traindoc schema --kind message` / `--kind event` give their schemas).",
        'echo \'{"type": "answer", "question": "train_loss_large", "value": "yes"}\' | traindoc chat --jsonl',
    ),
    "probe": (
        "Run one experiment on your setup and print its evidence: the numbers, the decision rules with "
        "their thresholds, and the answers it gives.",
        "traindoc probe curvature --setup my_setup.py:setup --json\ntraindoc probe depth --demo model_bias",
    ),
    "probe baselines": (
        "Compare your training loss with a trivial predictor and a linear/logistic reference.",
        "traindoc probe baselines --setup my_setup.py:setup",
    ),
    "probe depth": (
        "Train shallower and deeper variants with your recipe: a deeper model that trains WORSE means an "
        "optimization issue, not model bias.",
        "traindoc probe depth --setup my_setup.py:setup --json",
    ),
    "probe curvature": (
        "At the trained point: the gradient norm and the Hessian's extreme eigenvalues (Lanczos), saddle "
        "point or local minimum, and your learning rate against 2/lambda_max.",
        "traindoc probe curvature --setup my_setup.py:setup\n"
        "traindoc probe curvature --demo saddle_point --json",
    ),
    "probe generalization": (
        "Losses on the training, validation and test data: overfitting or mismatch.",
        "traindoc probe generalization --setup my_setup.py:setup",
    ),
    "probe learning_rate": (
        "Is the learning rate above its stability limit? The sharpness (lambda_max) at initialization and at "
        "the last sane point before a spike or divergence, against 2(1+momentum)/lambda_max for SGD or the "
        "preconditioned edge of stability for Adam; names the largest stable rate and one to try.",
        "traindoc probe learning_rate --setup my_setup.py:setup\n"
        "traindoc probe learning_rate --demo learning_rate_too_high --json",
    ),
    "probe remedies": (
        "Try the lecture's remedies for the given findings on your setup, each a short training run with one "
        "thing changed, and measure before and after with a noise margin.",
        "traindoc probe remedies --demo saddle_point --findings saddle_point --json",
    ),
    "remedies": (
        "Diagnose (or take --findings) and then measure the lecture's remedies on your own setup: training, "
        "validation and test loss before and after each, the change against its noise margin, the cost.",
        "traindoc remedies --demo overfitting\n"
        "traindoc remedies --setup my_setup.py:setup --findings optimization_issue --json",
    ),
    "history": (
        "Read a training history (the format is detected by content) and show the analysis: baseline, "
        "plateaus, divergence, spikes, the train/validation gap, early stopping.",
        "traindoc history runs/version_0/\n"
        "traindoc history trainer_state.json --plot curves.svg\n"
        "traindoc history mlflow://localhost:5000/RUN_ID --json",
    ),
    "demos": (
        "List the built-in demo setups, one per leaf of the flowchart.",
        "traindoc demos\ntraindoc diagnose --demo overfitting",
    ),
    "serve": (
        "Run the HTTP API: sessions in SQLite, probe jobs in isolated processes with live progress. "
        "Clients name the setups and histories registered here.",
        "traindoc serve\n"
        "traindoc serve --setup mnist=setups/mnist.py:setup --setup saddle=demo:saddle_point\n"
        "TRAINDOC_TOKEN=secret traindoc serve --host 0.0.0.0",
    ),
    "schema": (
        "Print a JSON Schema: the report's (default), the chat protocol's message and event, every "
        "probe's result (the `data` of `traindoc probe NAME --json`), or the service's OpenAPI document.",
        "traindoc schema > report.schema.json\ntraindoc schema --kind event\n"
        "traindoc schema --kind probes > probes.schema.json\ntraindoc schema --kind openapi",
    ),
    "completion": (
        "Print the shell completion script for bash, zsh or fish, generated from this parser.",
        "traindoc completion bash > ~/.local/share/bash-completion/completions/traindoc\n"
        "echo 'eval \"$(traindoc completion zsh)\"' >> ~/.zshrc\n"
        "traindoc completion fish > ~/.config/fish/completions/traindoc.fish",
    ),
}


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The parser's direct subcommands by name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def walk(parser: argparse.ArgumentParser, path: str = "") -> list[tuple[str, argparse.ArgumentParser]]:
    """Every command path ("probe curvature") with its parser, depth first."""
    out = []
    for name, sub in subcommands(parser).items():
        full = f"{path} {name}".strip()
        out.append((full, sub))
        out.extend(walk(sub, full))
    return out


class _KeepExamples:
    """A formatter mixin: descriptions are wrapped to the terminal as usual, examples are kept as lines."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)  # type: ignore[misc]  # a mixin: super() is the HelpFormatter it is combined with


def _with_examples(
    formatter: Callable[..., argparse.HelpFormatter],
) -> Callable[..., argparse.HelpFormatter]:
    # argparse types formatter_class as any callable making a formatter; only a class can be extended
    if not isinstance(formatter, type) or issubclass(formatter, _KeepExamples):
        return formatter
    return type("Formatter", (_KeepExamples, formatter), {})


def apply(parser: argparse.ArgumentParser) -> None:
    targets = [("", parser), *walk(parser)]
    for path, sub in targets:
        description, examples = HELP.get(path, (None, None))
        if description and not sub.description:
            sub.description = description
        if examples:
            sub.epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples.splitlines())
            sub.formatter_class = _with_examples(sub.formatter_class)
