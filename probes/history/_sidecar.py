"""Hyperparameters saved next to a log: the evidence a baseline may rest on.

Hugging Face saves the model's `config.json` in every checkpoint directory (`num_labels`, or
`id2label` with one entry per class); Lightning's CSVLogger and TensorBoardLogger save the module's
hyperparameters as `hparams.yaml` in the same `version_N/` folder; Keras's ModelCheckpoint saves a
`.keras` zip whose `config.json` holds the layers and the compiled loss (`model.to_json()` files are
the same JSON without the zip). Only small files (or zip members) are read, and only the few keys
that tell the number of classes or the label smoothing.
"""

from __future__ import annotations

import json
import re
import zipfile
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


_CATEGORICAL = ("categorical_crossentropy", "sparse_categorical_crossentropy", "CategoricalCrossentropy")


def _loss_of(compile_config: object) -> tuple[str, dict[str, Any]]:
    loss = compile_config.get("loss") if isinstance(compile_config, dict) else None
    if isinstance(loss, dict):
        config = loss.get("config")
        return str(loss.get("class_name", "")), config if isinstance(config, dict) else {}
    return str(loss or ""), {}


def _from_keras(text: str) -> dict[str, Any]:
    """Classes from a Keras model config: the last Dense layer's units when it is a softmax (or
    logits under a categorical cross-entropy); one sigmoid unit is a binary classifier."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, dict) or "class_name" not in data:
        return {}
    layers = (data.get("config") or {}).get("layers") if isinstance(data.get("config"), dict) else None
    dense = [
        layer.get("config", {})
        for layer in layers or []
        if isinstance(layer, dict)
        and layer.get("class_name") == "Dense"
        and isinstance(layer.get("config"), dict)
    ]
    if not dense:
        return {}
    units, activation = dense[-1].get("units"), dense[-1].get("activation")
    loss, loss_config = _loss_of(data.get("compile_config"))
    out: dict[str, Any] = {}
    if (
        isinstance(units, int)
        and units >= 2
        and (activation == "softmax" or any(c in loss for c in _CATEGORICAL))
    ):
        out["num_classes"] = units
    elif units == 1 and activation == "sigmoid":
        out["num_classes"] = 2
    smoothing = loss_config.get("label_smoothing")
    if out and isinstance(smoothing, int | float) and 0 < smoothing < 1:
        out["label_smoothing"] = float(smoothing)
    return out


def _keras_zip(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo("config.json")
            if info.file_size > _MAX:
                return None
            return archive.read(info).decode("utf-8", errors="replace")
    except (OSError, KeyError, zipfile.BadZipFile, RuntimeError, ValueError):
        return None


def _keras_configs(folder: Path) -> list[tuple[str | None, Path]]:
    try:
        models = sorted(folder.glob("*.keras"), key=lambda p: p.stat().st_mtime, reverse=True)[:3]
        jsons = sorted(p for p in folder.glob("*.json") if "model" in p.name.lower())[:3]
    except OSError:
        return []
    return [(_keras_zip(p), p) for p in models] + [(_read_small(p), p) for p in jsons]


def config_beside(log: Path) -> tuple[dict[str, Any], str] | None:
    """The class-count and smoothing keys of the config saved beside `log`, and where they came from."""
    folder = log if log.is_dir() else log.parent
    for candidate, parse in ((folder / "config.json", _from_json), (folder / "hparams.yaml", _from_yaml)):
        text = _read_small(candidate)
        if text is not None and (found := parse(text)):
            return found, str(candidate)
    for text, path in _keras_configs(folder):
        if text is not None and (found := _from_keras(text)):
            return found, f"{path} (the saved Keras model)"
    return None
