"""Writes the TensorBoard fixtures in tests/history/data/ with the official `tensorboard` package, so
our own decoder is tested against bytes it did not produce.

Not run by the tests (the project does not depend on tensorboard). To regenerate:
    python -m venv /tmp/tb && /tmp/tb/bin/pip install tensorboard numpy
    /tmp/tb/bin/python tests/history/make_tb_fixtures.py

- pytorch_run/: what torch.utils.tensorboard.SummaryWriter writes (simple_value scalars through
  tensorboard's EventFileWriter): train/loss per step, val/loss and val/accuracy per epoch, and a
  text summary; the training loss turns NaN at step 90.
- keras_tf2_run/train and keras_tf2_run/validation: what TF2's tf.summary.scalar (Keras TensorBoard
  callback) writes: 0-d float tensors whose `scalars` plugin metadata comes with the first value of
  each tag only; train values as tensor_content bytes (TF's C++ writer), validation as float_val
  (tensorboard's own scalar_pb), plus one double-precision tag.
"""

from __future__ import annotations

import math
import shutil
import struct
from pathlib import Path

from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.plugins.scalar import summary_v2
from tensorboard.plugins.text import summary_v2 as text_summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

DATA = Path(__file__).parent / "data"


def simple(tag: str, value: float) -> summary_pb2.Summary:
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])


def write_pytorch_run(folder: Path) -> None:
    writer = EventFileWriter(str(folder))
    writer.add_event(event_pb2.Event(summary=text_summary.text_pb("args", "lr=0.1")))
    for step in range(0, 100):
        loss = 2.3 * math.exp(-step / 30) + 0.05 if step < 90 else math.nan
        writer.add_event(
            event_pb2.Event(step=step, wall_time=1000.0 + step, summary=simple("train/loss", loss))
        )
        if step % 20 == 19:
            epoch = step // 20
            val = 2.3 * math.exp(-step / 30) + 0.1
            writer.add_event(event_pb2.Event(step=step, summary=simple("val/loss", val)))
            writer.add_event(event_pb2.Event(step=step, summary=simple("val/accuracy", 0.1 + 0.15 * epoch)))
    writer.flush()
    writer.close()


def tensor_content_pb(tag: str, value: float, first: bool, double: bool = False) -> summary_pb2.Summary:
    tensor = tensor_pb2.TensorProto(
        dtype=2 if double else 1,  # DT_DOUBLE / DT_FLOAT
        tensor_shape=tensor_shape_pb2.TensorShapeProto(),
        tensor_content=struct.pack("<d" if double else "<f", value),
    )
    v = summary_pb2.Summary.Value(tag=tag, tensor=tensor)
    if first:
        v.metadata.plugin_data.plugin_name = "scalars"
    return summary_pb2.Summary(value=[v])


def float_val_pb(tag: str, value: float, first: bool) -> summary_pb2.Summary:
    pb = summary_v2.scalar_pb(tag, value)
    if not first:
        pb.value[0].ClearField("metadata")
    return pb


def write_keras_run(folder: Path) -> None:
    train = EventFileWriter(str(folder / "train"))
    validation = EventFileWriter(str(folder / "validation"))
    # plain overfitting: validation loss is lowest at epoch 4 and rises afterwards, and validation
    # accuracy falls with it
    train_losses = [1.6, 1.1, 0.8, 0.6, 0.45, 0.33, 0.24, 0.17, 0.12, 0.08]
    val_losses = [1.5, 1.15, 0.95, 0.85, 0.82, 0.86, 0.93, 1.02, 1.12, 1.25]
    val_accuracy = [0.5, 0.58, 0.64, 0.68, 0.70, 0.69, 0.67, 0.65, 0.64, 0.62]
    for epoch, (t, v, a) in enumerate(zip(train_losses, val_losses, val_accuracy, strict=True)):
        first = epoch == 0
        train.add_event(event_pb2.Event(step=epoch, summary=tensor_content_pb("epoch_loss", t, first)))
        train.add_event(
            event_pb2.Event(step=epoch, summary=tensor_content_pb("epoch_learning_rate", 0.001, first, True))
        )
        validation.add_event(event_pb2.Event(step=epoch, summary=float_val_pb("epoch_loss", v, first)))
        validation.add_event(event_pb2.Event(step=epoch, summary=float_val_pb("epoch_accuracy", a, first)))
    for w in (train, validation):
        w.flush()
        w.close()


def main() -> None:
    for name in ("pytorch_run", "keras_tf2_run"):
        shutil.rmtree(DATA / name, ignore_errors=True)
    write_pytorch_run(DATA / "pytorch_run")
    write_keras_run(DATA / "keras_tf2_run")
    for path in sorted(DATA.rglob("events.out.tfevents.*")):
        # stable names: the writer puts host name and time in them
        stable = path.with_name("events.out.tfevents.fixture")
        path.rename(stable)
        print(stable.relative_to(DATA), stable.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
