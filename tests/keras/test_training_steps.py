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


class _Clock:
    """Seconds advancing by ``tick`` at every reading."""

    def __init__(self, tick: float) -> None:
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_a_run_falling_behind_its_deadline_stops_early(tmp_path):
    # the clock advances 10 s per reading, read at each epoch's begin and end: every epoch
    # measures 10 s, 1 s of it overhead, so 1.8 s a step; the plan: 14 steps (3 epochs of 5,
    # the last one partial). The guard judges from the second epoch on (the first one's time
    # includes tracing): after epoch 2 (t = 40: 4 steps left) the finish is 40 + 7.2 + 1 = 48.2
    def steps(deadline: float, name: str) -> tuple[int, int]:
        batches, validation = _data()
        outcome = train_resumable("probe", tmp_path / name, _build, epochs=3,
                                  train_data=batches, validation_data=validation,
                                  total_steps=14, deadline=(deadline, 1.0, _Clock(10.0)))
        iterations = int(keras.ops.convert_to_numpy(outcome.model.optimizer.iterations))
        return iterations, len(outcome.history)

    assert steps(50.0, "on_time") == (14, 3)
    # 2.2 s late after epoch 2: 13 steps would end at 46.4, 12 at 44.6
    assert steps(46.0, "late") == (12, 3)
    # already past the deadline after epoch 2: no further step fits, training ends there
    assert steps(21.0, "hopeless") == (10, 2)
