"""Watch a real training run: warnings while it trains, a diagnosis when it ends.

    from assistant.watch import watch                      # plain PyTorch
    with watch(model, optimizer, loss_fn, held_batch=(x, y)) as run:
        ...; run.step(loss)

    from assistant.watch.hf import TraindocCallback        # Hugging Face Trainer(callbacks=[...])
    from assistant.watch.lightning import TraindocCallback # Lightning Trainer(callbacks=[...])
    from assistant.watch.keras import TraindocCallback     # Keras model.fit(callbacks=[...])

Each integration imports its framework only when it is used. `Run` is the framework-free core.
"""

from __future__ import annotations

from assistant.watch._report import WatchReport
from assistant.watch._run import Run, log_emit
from assistant.watch.torch import TorchRun, watch

__all__ = ["Run", "TorchRun", "WatchReport", "log_emit", "watch"]
