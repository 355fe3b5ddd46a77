"""The lecture's flowchart written a second time, as a plain walk down the tree (no rules, no engine).

It is the oracle the exhaustive tests compare the engines with: a question's answer is read only once
the walk has put that question on the path (answers off the path do not count), and measured-only
questions (a measurement is a fact wherever it was taken) are read anywhere. Source: Hung-yi Lee,
ML 2021, "General Guidance" and "When gradient is small" (../shared/knowledge/flowchart.md), with
the edges of issue 10 stated in tests/core/test_flowchart.py's docstring.
"""

from __future__ import annotations

from collections.abc import Mapping

from rules import KNOWLEDGE

ORDER = list(KNOWLEDGE.questions)  # the lecture's order of questions


def walk(answers: Mapping[str, str]) -> tuple[set[str], list[str], set[str]]:
    """(findings, pending questions in the lecture's order, questions on the path)."""
    path: list[str] = ["train_loss_large"]
    found: set[str] = set()

    def ask(q: str) -> str:
        if q not in path:
            path.append(q)
        return answers.get(q, "unanswered")

    def measured(q: str) -> str:
        return answers.get(q, "unanswered")

    lr_unstable = measured("learning_rate_exceeds_stability") == "yes"
    if lr_unstable:
        found.add("learning_rate_too_high")
    if measured("loss_diverged") == "yes":
        found.add("diverged")
        ask("learning_rate_exceeds_stability")

    train = ask("train_loss_large")
    if train == "yes":
        deeper = ask("deeper_model_worse")
        optimization = deeper == "yes" or measured("simple_model_better") == "yes" or lr_unstable
        gradient = hessian = "unanswered"
        if optimization or deeper == "unsure":
            gradient = ask("gradient_norm_small")
            if gradient == "yes":
                hessian = ask("hessian_negative_eigenvalue")
                if hessian == "yes" and deeper == "unsure":
                    optimization = True  # a saddle: a lower loss is reachable with the same model
        if deeper == "no" and not optimization:
            found.add("model_bias")
        if optimization:
            found.add("optimization_issue")
            if gradient == "no":
                found.add("not_at_critical_point")
                ask("learning_rate_exceeds_stability")
            elif gradient == "yes" and hessian == "yes":
                found.add("saddle_point")
            elif gradient == "yes" and hessian == "no":
                found.add("local_minimum")
    elif train == "no":
        has_test = measured("test_set_available") != "no"
        test = ask("test_loss_large") if has_test else "unanswered"
        if test == "no":
            found.add("healthy")
        if test in ("yes", "unsure") or not has_test:
            val = ask("val_loss_large")
            if val == "yes":
                found.add("overfitting")
            elif val == "no" and test == "yes":
                found.add("mismatch")
            elif val == "no" and not has_test:
                found.add("healthy_without_test")

    pending = [q for q in ORDER if q in path and answers.get(q, "unanswered") in ("unanswered", "unsure")]
    return found, pending, set(path)
