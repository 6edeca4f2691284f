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


def _one_cycle_run(tmp_path, name, deadline, schedule=None):
    """14 planned steps under a warm-up + cosine One Cycle (LR only), with a deadline kept by
    the guard, or a plain run of ``schedule`` from the start (the reference)."""
    from superconverge.callbacks import OneCycle
    from superconverge.schedules import OneCycleSchedule

    planned = OneCycleSchedule.warmup_cosine(0.5, 14, cycle_momentum=False)
    one_cycle = OneCycle(schedule=schedule or planned, cycle_momentum=False)
    batches, validation = _data()
    keras.utils.set_random_seed(0)
    total = (schedule or planned).total_steps
    outcome = train_resumable(
        "probe", tmp_path / name, _build, epochs=-(-total // 5), train_data=batches,
        validation_data=validation, callbacks=[one_cycle], schedule_callback=one_cycle,
        total_steps=total, deadline=None if schedule else (deadline, 1.0, _Clock(10.0)))
    return outcome, one_cycle, planned


def _weights(model):
    return [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]


def test_the_guard_stretches_the_cycle_when_the_run_would_end_early(tmp_path):
    """1.8 s a step (see above), deadline 100 s: after epoch 2 (t = 40, 10 steps done) the
    largest plan on time is 21 steps (1.5x the 14 planned, the cap: 40 + 11 x 1.8 + 3 = 62.8);
    the rest of the cycle is laid over steps 10 -> 21, and the optimizer follows it: the
    weights are those of a run that followed the stretched schedule from the start. (The fake
    clock reads 80 s after epoch 4, 82.8 s predicted for the 21st step: still on time.)"""
    from superconverge.schedules import stretch

    outcome, one_cycle, planned = _one_cycle_run(tmp_path, "early", 100.0)
    assert int(keras.ops.convert_to_numpy(outcome.model.optimizer.iterations)) == 21
    assert len(outcome.history) == outcome.epochs == 5
    expected = stretch(planned, 10, 21)
    assert one_cycle.schedule.total_steps == 21
    np.testing.assert_allclose(outcome.applied["learning_rate"], expected.lr(np.arange(21)),
                               rtol=1e-6, atol=1e-9)
    reference, _, _ = _one_cycle_run(tmp_path, "reference", 0.0, schedule=expected)
    for got, want in zip(_weights(outcome.model), _weights(reference.model)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # the state records the stretched schedule, which a resume follows
    state = checkpoint_state(tmp_path / "early", "probe")
    assert state["schedule"]["total_steps"] == 21


def test_the_guard_compresses_the_cycle_when_the_run_falls_behind(tmp_path):
    """Deadline 46 s: after epoch 2 only 12 steps fit; the cycle's rest is laid over steps
    10 -> 12 (it still anneals to its end instead of being cut)."""
    from superconverge.schedules import stretch

    outcome, _, planned = _one_cycle_run(tmp_path, "late", 46.0)
    assert int(keras.ops.convert_to_numpy(outcome.model.optimizer.iterations)) == 12
    expected = stretch(planned, 10, 12)
    np.testing.assert_allclose(outcome.applied["learning_rate"], expected.lr(np.arange(12)),
                               rtol=1e-6, atol=1e-9)
    # it anneals within the 12 steps: below where the planned cycle stood at step 11
    assert outcome.applied["learning_rate"][-1] < 0.5 * float(planned.lr(11))
    reference, _, _ = _one_cycle_run(tmp_path, "reference", 0.0, schedule=expected)
    for got, want in zip(_weights(outcome.model), _weights(reference.model)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


class _Crash(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 3:  # after epoch 3's checkpoint
            raise KeyboardInterrupt


def test_a_resumed_stretched_run_follows_the_stretched_cycle(tmp_path):
    """Killed after epoch 3 of a run stretched to 21 steps, resumed as the pipeline resumes
    (the planned 14 steps, no deadline): it follows the stretched schedule to step 21, and ends
    with the weights of an uninterrupted run of that schedule."""
    from superconverge.callbacks import OneCycle
    from superconverge.schedules import OneCycleSchedule, stretch

    planned = OneCycleSchedule.warmup_cosine(0.5, 14, cycle_momentum=False)

    def run(callbacks, deadline):
        one_cycle = OneCycle(schedule=planned, cycle_momentum=False)
        batches, validation = _data()
        keras.utils.set_random_seed(0)
        return train_resumable(
            "probe", tmp_path / "run", _build, epochs=3, train_data=batches,
            validation_data=validation, callbacks=[one_cycle, *callbacks],
            schedule_callback=one_cycle, total_steps=14, deadline=deadline,
            on_resume=batches.set_epoch)

    try:
        run([_Crash()], (100.0, 1.0, _Clock(10.0)))
    except KeyboardInterrupt:
        pass
    assert checkpoint_state(tmp_path / "run", "probe")["epoch"] == 3
    outcome = run([], None)
    assert int(keras.ops.convert_to_numpy(outcome.model.optimizer.iterations)) == 21
    reference, _, _ = _one_cycle_run(tmp_path, "reference", 0.0,
                                     schedule=stretch(planned, 10, 21))
    for got, want in zip(_weights(outcome.model), _weights(reference.model)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
