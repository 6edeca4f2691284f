"""Resumable training stopped inside an epoch (a wall-clock budget's partial last epoch), on
every backend: the optimizer takes exactly ``total_steps`` steps, also across a resume, and the
cut epoch is validated and checkpointed like a whole one."""

from __future__ import annotations

import keras
import numpy as np

from superconverge.data.batches import ArrayBatches
from superconverge.pipeline.training import checkpoint_state, train_resumable


def _build() -> keras.Model:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype("float32")
    y = rng.integers(0, 3, size=40)
    return ArrayBatches(x, y, batch_size=8, seed=0), (x[:16], y[:16])  # 5 steps per epoch


def test_training_stops_after_total_steps_inside_the_last_epoch(tmp_path):
    batches, validation = _data()
    outcome = train_resumable("probe", tmp_path, _build, epochs=3, train_data=batches,
                              validation_data=validation, total_steps=12)
    assert int(keras.ops.convert_to_numpy(outcome.model.optimizer.iterations)) == 12
    assert len(outcome.history) == 3 and "val_loss" in outcome.history[-1]
    assert checkpoint_state(tmp_path, "probe")["epoch"] == 3


def test_a_resumed_run_still_stops_at_total_steps(tmp_path):
    batches, validation = _data()
    train_resumable("probe", tmp_path, _build, epochs=2, train_data=batches,
                    validation_data=validation)  # two whole epochs, checkpointed: 10 steps
    batches, validation = _data()
    outcome = train_resumable("probe", tmp_path, _build, epochs=3, train_data=batches,
                              validation_data=validation, total_steps=13,
                              on_resume=batches.set_epoch)
    assert int(keras.ops.convert_to_numpy(outcome.model.optimizer.iterations)) == 13
    assert [row["epoch"] for row in outcome.history] == [1.0, 2.0, 3.0]
