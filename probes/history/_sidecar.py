"""Hyperparameters saved next to a log: the evidence a baseline may rest on.

Hugging Face saves the model's `config.json` in every checkpoint directory (`num_labels`, or
`id2label` with one entry per class); Lightning's CSVLogger and TensorBoardLogger save the module's
hyperparameters as `hparams.yaml` in the same `version_N/` folder. Only small files are read, and
only the few keys that tell the number of classes or the label smoothing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

_MAX = 1024 * 1024  # a config is a few KB
CLASS_KEYS = ("num_labels", "num_classes", "n_classes", "nb_classes", "number_of_classes", "n_labels")
SMOOTHING_KEYS = ("label_smoothing", "label_smoothing_factor", "label_smoothing_epsilon")
_YAML_LINE = re.compile(
    rf"^\s*({'|'.join(CLASS_KEYS + SMOOTHING_KEYS)})\s*:\s*([0-9.eE+-]+)\s*(?:#.*)?$", re.M
)


def _read_small(path: Path) -> str | None:
    try:
        if not path.is_file() or path.stat().st_size > _MAX:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _from_json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    arch = data.get("architectures")
    if isinstance(arch, list) and arch and not any("Classification" in str(a) for a in arch):
        return {}  # a language model's config carries a default num_labels that means nothing
    out: dict[str, Any] = {k: data[k] for k in CLASS_KEYS + SMOOTHING_KEYS if k in data}
    labels = data.get("id2label")
    if isinstance(labels, dict) and len(labels) >= 2 and "num_labels" not in out:
        out["num_labels"] = len(labels)
    return out


def _from_yaml(text: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in _YAML_LINE.findall(text):
        try:
            out.setdefault(key, int(value) if re.fullmatch(r"\d+", value) else float(value))
        except ValueError:
            continue
    return out


def config_beside(log: Path) -> tuple[dict[str, Any], str] | None:
    """The class-count and smoothing keys of the config saved beside `log`, and where they came from."""
    folder = log if log.is_dir() else log.parent
    for candidate, parse in ((folder / "config.json", _from_json), (folder / "hparams.yaml", _from_yaml)):
        text = _read_small(candidate)
        if text is not None and (found := parse(text)):
            return found, str(candidate)
    return None
