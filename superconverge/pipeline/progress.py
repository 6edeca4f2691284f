"""Progress output for long stages: one tqdm bar per stage, with ETA; silent when quiet."""

from __future__ import annotations

import sys
from typing import Any

import keras
from tqdm.auto import tqdm


class ProgressBar(keras.callbacks.Callback):
    """A bar over all the batches of a ``fit`` call (every epoch), with loss and ETA."""

    def __init__(self, description: str, *, disable: bool = False) -> None:
        super().__init__()
        self.description = description
        self.disable = disable
        self._bar: Any = None
        self._epoch = 0

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        steps = self.params.get("steps") or 0
        epochs = self.params.get("epochs") or 1
        self._bar = tqdm(
            total=steps * epochs if steps else None,
            desc=self.description,
            unit="batch",
            disable=self.disable,
            file=sys.stderr,
            dynamic_ncols=True,
            leave=True,
        )

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch = epoch
        steps = self.params.get("steps") or 0
        if self._bar is not None and steps and self._bar.n < epoch * steps:
            # resumed at a later epoch: count the epochs already done
            self._bar.update(epoch * steps - self._bar.n)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._bar is None:
            return
        self._bar.update(1)
        if logs and "loss" in logs and batch % 10 == 0:
            self._bar.set_postfix(epoch=self._epoch + 1, loss=f"{float(logs['loss']):.4f}")

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._bar is not None and logs:
            shown = {k: f"{float(v):.4f}" for k, v in logs.items() if k.startswith("val_")}
            self._bar.set_postfix(epoch=epoch + 1, **shown)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class LogScheduledLR(keras.callbacks.Callback):
    """Log the LR that the optimizer's ``LearningRateSchedule`` gave at each epoch's end."""

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is not None:
            value = self.model.optimizer.learning_rate
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(value))
