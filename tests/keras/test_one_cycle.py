"""OneCycle checked by the weight update it causes, on whichever backend KERAS_BACKEND selects.

The reference is SGD-with-momentum and Adam written out in NumPy (float64) under the
scheduled LR and momentum; a callback that only set ``optimizer.momentum`` would pass on
PyTorch and fail here on TensorFlow and JAX.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

import superconverge as sc
from superconverge.callbacks import UnsupportedOptimizerError

N, D, BATCH = 32, 3, 8


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, D)).astype("float32")
    y = (x @ np.array([[1.5], [-2.0], [0.5]]) + 0.1 * rng.normal(size=(N, 1))).astype("float32")
    return x, y


def _linear_model(optimizer: keras.optimizers.Optimizer, w0: np.ndarray) -> keras.Model:
    model = keras.Sequential(
        [keras.Input((D,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
    )
    model.compile(optimizer=optimizer, loss="mse")
    model.layers[0].kernel.assign(w0.astype("float32"))
    return model


class _WeightRecorder(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.weights: list[np.ndarray] = []

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append(np.array(self.model.layers[0].kernel.numpy(), dtype=np.float64))


def _grad(w: np.ndarray, xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
    # d/dw mean((x w - y)^2) = 2/B x^T (x w - y)
    return 2.0 / len(xb) * xb.T.astype(np.float64) @ (xb.astype(np.float64) @ w - yb)


def _batches(x, y, epochs):
    for _ in range(epochs):
        for i in range(0, N, BATCH):
            yield x[i : i + BATCH], y[i : i + BATCH]


def _fit_and_record(model, x, y, epochs, callback, **fit_kwargs):
    recorder = _WeightRecorder()
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=epochs,
        shuffle=False,
        verbose=0,
        callbacks=[callback, recorder],
        **fit_kwargs,
    )
    return np.stack(recorder.weights)


W0 = np.array([[0.3], [0.2], [-0.1]])
EPOCHS = 3
STEPS = EPOCHS * N // BATCH


def test_sgd_momentum_follows_schedule_step_by_step():
    x, y = _data()
    # min_momentum far from max so that a momentum that did not move would be detected
    policy = sc.OneCycleSchedule.smith(0.05, STEPS, max_momentum=0.95, min_momentum=0.3)
    model = _linear_model(keras.optimizers.SGD(0.123, momentum=0.9), W0)
    got = _fit_and_record(model, x, y, EPOCHS, sc.OneCycle(schedule=policy))

    w, m = W0.astype(np.float64), np.zeros_like(W0, dtype=np.float64)
    expected = []
    for step, (xb, yb) in enumerate(_batches(x, y, EPOCHS)):
        lr, mom = policy.lr(step), policy.momentum(step)
        m = mom * m - lr * _grad(w, xb, yb)
        w = w + m
        expected.append(w.copy())
    np.testing.assert_allclose(got, np.stack(expected), rtol=2e-5, atol=1e-6)

    # and it is not what a constant momentum of 0.9 would give
    w, m = W0.astype(np.float64), np.zeros_like(W0, dtype=np.float64)
    for step, (xb, yb) in enumerate(_batches(x, y, EPOCHS)):
        m = 0.9 * m - policy.lr(step) * _grad(w, xb, yb)
        w = w + m
    assert np.max(np.abs(got[-1] - w)) > 1e-3


def test_sgd_nesterov_follows_schedule():
    x, y = _data(1)
    policy = sc.OneCycleSchedule.smith(0.05, STEPS, min_momentum=0.5)
    model = _linear_model(keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True), W0)
    got = _fit_and_record(model, x, y, EPOCHS, sc.OneCycle(schedule=policy))
    w, m = W0.astype(np.float64), np.zeros_like(W0, dtype=np.float64)
    expected = []
    for step, (xb, yb) in enumerate(_batches(x, y, EPOCHS)):
        lr, mom, g = policy.lr(step), policy.momentum(step), _grad(w, xb, yb)
        if keras.backend.backend() == "torch":
            # Keras's torch SGD uses PyTorch's Nesterov form: w += -lr g + mom * m_new
            m = mom * m - lr * g
            w = w - lr * g + mom * m
        else:
            m = mom * m - lr * g
            w = w + mom * m - lr * g
        expected.append(w.copy())
    np.testing.assert_allclose(got, np.stack(expected), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("optimizer_class", [keras.optimizers.Adam, keras.optimizers.AdamW])
def test_adam_beta1_follows_schedule_step_by_step(optimizer_class):
    x, y = _data(2)
    policy = sc.OneCycleSchedule.fastai(0.05, STEPS, moms=(0.95, 0.5, 0.95))
    wd = 0.01 if optimizer_class is keras.optimizers.AdamW else None
    kwargs = {"weight_decay": wd} if wd else {}
    model = _linear_model(
        optimizer_class(1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **kwargs), W0
    )
    got = _fit_and_record(model, x, y, EPOCHS, sc.OneCycle(schedule=policy))

    w = W0.astype(np.float64)
    m, v = np.zeros_like(w), np.zeros_like(w)
    expected = []
    for step, (xb, yb) in enumerate(_batches(x, y, EPOCHS)):
        lr, b1, b2 = policy.lr(step), policy.momentum(step), 0.999
        g = _grad(w, xb, yb)
        if wd:
            w = w - w * wd * lr  # decoupled decay, applied before the update
        t = step + 1
        m = m + (g - m) * (1 - b1)
        v = v + (g * g - v) * (1 - b2)
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
        w = w - m * alpha / (np.sqrt(v) + 1e-7)
        expected.append(w.copy())
    # float32 Adam near a zero crossing: compare on the weights' own scale
    np.testing.assert_allclose(got, np.stack(expected), rtol=1e-4, atol=1e-5)
    constant = _linear_model(optimizer_class(1e-3, beta_1=0.95, epsilon=1e-7, **kwargs), W0)
    got_constant = _fit_and_record(
        constant, x, y, EPOCHS, sc.OneCycle(schedule=policy, cycle_momentum=False)
    )
    assert np.max(np.abs(got_constant - got)) > 1e-3


def test_lr_only_leaves_momentum_alone_and_logs_history():
    x, y = _data(3)
    policy = sc.OneCycleSchedule.smith(0.05, STEPS, cycle_momentum=False)
    model = _linear_model(keras.optimizers.SGD(0.5, momentum=0.8), W0)
    callback = sc.OneCycle(schedule=policy, cycle_momentum=False)
    got = _fit_and_record(model, x, y, EPOCHS, callback)
    w, m = W0.astype(np.float64), np.zeros_like(W0, dtype=np.float64)
    for step, (xb, yb) in enumerate(_batches(x, y, EPOCHS)):
        m = 0.8 * m - policy.lr(step) * _grad(w, xb, yb)
        w = w + m
    np.testing.assert_allclose(got[-1], w, rtol=2e-5, atol=1e-6)
    assert model.history.history["learning_rate"] == pytest.approx(
        [policy.lr(s) for s in (3, 7, 11)]
    )
    assert "momentum" not in model.history.history


def test_history_logs_lr_and_momentum_and_inferred_steps():
    x, y = _data(4)
    model = _linear_model(keras.optimizers.SGD(0.01, momentum=0.9), W0)
    callback = sc.OneCycle(0.05)  # total steps inferred from fit: 3 epochs x 4 batches
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=[callback])
    policy = callback.schedule
    assert policy.total_steps == STEPS
    history = model.history.history
    assert history["learning_rate"] == pytest.approx([policy.lr(s) for s in (3, 7, 11)])
    assert history["momentum"] == pytest.approx([policy.momentum(s) for s in (3, 7, 11)])
    assert callback.applied["step"] == list(map(float, range(STEPS)))
    # after training the optimizer is a plain Keras optimizer again
    assert float(model.optimizer.momentum) == pytest.approx(0.9)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(
        policy.final_lr, rel=1e-5
    )


def test_gradient_accumulation_schedule_follows_optimizer_updates():
    x, y = _data(5)
    accumulation = 2
    updates = EPOCHS * (N // BATCH) // accumulation
    policy = sc.OneCycleSchedule.smith(0.05, updates, min_momentum=0.3)
    model = _linear_model(
        keras.optimizers.SGD(0.1, momentum=0.9, gradient_accumulation_steps=accumulation), W0
    )
    callback = sc.OneCycle(0.05, min_momentum=0.3)
    got = _fit_and_record(model, x, y, EPOCHS, callback)
    assert callback.schedule.total_steps == updates
    w, m = W0.astype(np.float64), np.zeros_like(W0, dtype=np.float64)
    grads = []
    expected = []
    for batch, (xb, yb) in enumerate(_batches(x, y, EPOCHS)):
        grads.append(_grad(w, xb, yb))
        if (batch + 1) % accumulation == 0:
            step = batch // accumulation
            m = policy.momentum(step) * m - policy.lr(step) * np.mean(grads, axis=0)
            w = w + m
            grads = []
        expected.append(w.copy())
    np.testing.assert_allclose(got, np.stack(expected), rtol=2e-5, atol=1e-6)


def test_resume_from_saved_model_continues_at_exact_step(tmp_path):
    x, y = _data(6)

    def fresh():
        return _linear_model(keras.optimizers.SGD(0.1, momentum=0.9), W0)

    straight = fresh()
    straight.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=4,
        shuffle=False,
        verbose=0,
        callbacks=[sc.OneCycle(0.05, min_momentum=0.3)],
    )

    first = fresh()
    first.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=[sc.OneCycle(0.05, epochs=4, min_momentum=0.3)],
    )
    path = tmp_path / "checkpoint.keras"
    first.save(path)
    resumed = keras.saving.load_model(path)
    resumed.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=4,
        initial_epoch=2,
        shuffle=False,
        verbose=0,
        callbacks=[sc.OneCycle(0.05, epochs=4, min_momentum=0.3)],
    )
    np.testing.assert_allclose(
        resumed.layers[0].kernel.numpy(), straight.layers[0].kernel.numpy(), rtol=1e-6, atol=1e-7
    )


def _sgd_reference(w, m, policy, x, y, epochs, first_step=0):
    """SGD with momentum in NumPy under ``policy`` from schedule step ``first_step``."""
    w, m = np.array(w, dtype=np.float64), np.array(m, dtype=np.float64)
    expected = []
    for i, (xb, yb) in enumerate(_batches(x, y, epochs)):
        step = first_step + i
        m = policy.momentum(step) * m - policy.lr(step) * _grad(w, xb, yb)
        w = w + m
        expected.append(w.copy())
    return np.stack(expected)


def test_second_fit_with_a_new_one_cycle_runs_its_own_cycle():
    # fastai's fine_tune pattern: one cycle, then another on the same compiled model
    x, y = _data(12)
    model = _linear_model(keras.optimizers.SGD(0.1, momentum=0.9), W0)
    first = sc.OneCycle(0.05, min_momentum=0.3)
    model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, callbacks=[first])
    assert first.applied["step"][0] == 0.0
    w = np.array(model.layers[0].kernel.numpy(), dtype=np.float64)
    m = np.array(model.optimizer.momentums[0].numpy(), dtype=np.float64)

    policy = sc.OneCycleSchedule.smith(0.08, STEPS, max_momentum=0.95, min_momentum=0.4)
    second = sc.OneCycle(schedule=policy)
    got = _fit_and_record(model, x, y, EPOCHS, second)
    # the second cycle starts at its own step 0 (LR min -> max -> min), not at the end
    assert second.applied["step"] == list(map(float, range(STEPS)))
    np.testing.assert_allclose(second.applied["learning_rate"], policy.lr(np.arange(STEPS)))
    assert max(second.applied["learning_rate"]) > 0.9 * 0.08 > 10 * policy.final_lr
    np.testing.assert_allclose(
        got, _sgd_reference(w, m, policy, x, y, EPOCHS), rtol=2e-5, atol=1e-6
    )


def test_one_callback_reused_for_two_fits_keeps_each_fits_values():
    # ``applied`` is computed when read: each fit's steps under the schedule that fit followed
    x, y = _data(13)
    model = _linear_model(keras.optimizers.SGD(0.1, momentum=0.9), W0)
    callback = sc.OneCycle(0.05, min_momentum=0.3)
    model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, callbacks=[callback])
    first_policy = callback.schedule
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
              callbacks=[callback])
    second_policy = callback.schedule
    first_steps, second_steps = 2 * (N // BATCH), STEPS
    assert first_policy.total_steps == first_steps and second_policy.total_steps == second_steps
    applied = callback.applied
    assert applied["step"] == [float(s) for s in [*range(first_steps), *range(second_steps)]]
    np.testing.assert_allclose(
        applied["learning_rate"],
        np.concatenate([first_policy.lr(np.arange(first_steps)),
                        second_policy.lr(np.arange(second_steps))]),
    )
    np.testing.assert_allclose(
        applied["momentum"][:first_steps], first_policy.momentum(np.arange(first_steps))
    )
    assert model.history.history["learning_rate"] == pytest.approx(
        [second_policy.lr(s) for s in (3, 7, 11)]
    )


def test_resume_inside_a_second_cycle_continues_that_cycle(tmp_path):
    x, y = _data(13)

    def after_first_cycle():
        model = _linear_model(keras.optimizers.SGD(0.1, momentum=0.9), W0)
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
                  callbacks=[sc.OneCycle(0.05, min_momentum=0.3)])
        return model

    straight = after_first_cycle()
    straight.fit(x, y, batch_size=BATCH, epochs=4, shuffle=False, verbose=0,
                 callbacks=[sc.OneCycle(0.07, min_momentum=0.4)])

    interrupted = after_first_cycle()
    interrupted.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
                    callbacks=[sc.OneCycle(0.07, epochs=4, min_momentum=0.4)])
    path = tmp_path / "second_cycle.keras"
    interrupted.save(path)
    resumed = keras.saving.load_model(path)
    callback = sc.OneCycle(0.07, epochs=4, min_momentum=0.4)
    resumed.fit(x, y, batch_size=BATCH, epochs=4, initial_epoch=2, shuffle=False, verbose=0,
                callbacks=[callback])
    per_epoch = N // BATCH
    assert callback.applied["step"] == list(map(float, range(2 * per_epoch, 4 * per_epoch)))
    np.testing.assert_allclose(
        resumed.layers[0].kernel.numpy(), straight.layers[0].kernel.numpy(), rtol=1e-6, atol=1e-7
    )


def test_later_plain_fit_is_plain_keras():
    x, y = _data(7)
    model = _linear_model(keras.optimizers.SGD(0.1, momentum=0.9), W0)
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[sc.OneCycle(0.05, min_momentum=0.3)],
    )
    final_lr = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    model.optimizer.learning_rate = 0.02
    w = np.array(model.layers[0].kernel.numpy(), dtype=np.float64)
    m = np.array(model.optimizer.momentums[0].numpy(), dtype=np.float64)
    got = _fit_and_record(model, x, y, 1, keras.callbacks.Callback())
    for i, (xb, yb) in enumerate(_batches(x, y, 1)):
        m = 0.9 * m - 0.02 * _grad(w, xb, yb)
        w = w + m
        np.testing.assert_allclose(got[i], w, rtol=2e-5, atol=1e-6)
    assert final_lr < 0.05


def test_training_past_the_plan_warns_and_clamps():
    x, y = _data(8)
    model = _linear_model(keras.optimizers.SGD(0.1, momentum=0.9), W0)
    callback = sc.OneCycle(0.05, total_steps=6)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=BATCH, epochs=3, verbose=0, callbacks=[callback])
    assert any("ran past" in str(w.message) for w in caught)
    assert callback.applied["learning_rate"][-1] == pytest.approx(callback.schedule.final_lr)
    assert callback.applied["learning_rate"][6:] == pytest.approx(
        [callback.schedule.final_lr] * (STEPS - 6)
    )


def test_errors_are_clear():
    x, y = _data(9)
    scheduled = keras.optimizers.SGD(
        keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9), momentum=0.9
    )
    model = _linear_model(scheduled, W0)
    with pytest.raises(ValueError, match="LearningRateSchedule"):
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[sc.OneCycle(0.1)])

    model = _linear_model(keras.optimizers.SGD(0.1), W0)
    with pytest.raises(UnsupportedOptimizerError, match="momentum=0"):
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[sc.OneCycle(0.1)])

    model = _linear_model(keras.optimizers.RMSprop(0.01), W0)
    with pytest.raises(UnsupportedOptimizerError, match="cycle_momentum=False"):
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[sc.OneCycle(0.1)])
    # LR-only works with any optimizer
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=1,
        verbose=0,
        callbacks=[sc.OneCycle(0.1, cycle_momentum=False)],
    )

    with pytest.raises(ValueError, match="max_lr"):
        sc.OneCycle()
    with pytest.raises(ValueError, match="preset"):
        sc.OneCycle(0.1, preset="nope")
    with pytest.raises(ValueError, match="epochs"):
        sc.OneCycle(0.1, epochs=0)


def test_keras_schedule_adapter_matches_numpy_and_serializes(tmp_path):
    policy = sc.OneCycleSchedule.pytorch(0.4, 1000, three_phase=True)
    adapter = sc.KerasPiecewiseSchedule(policy.lr_schedule)
    steps = np.arange(0, 1100, 7)
    got = np.array([float(keras.ops.convert_to_numpy(adapter(s))) for s in steps])
    np.testing.assert_allclose(got, policy.lr(steps), rtol=1e-5, atol=1e-9)

    x, y = _data(10)
    model = _linear_model(keras.optimizers.SGD(adapter, momentum=0.9), W0)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    path = tmp_path / "with_schedule.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    schedule = loaded.optimizer._learning_rate
    assert isinstance(schedule, sc.KerasPiecewiseSchedule)
    assert schedule.schedule == policy.lr_schedule


def test_steps_per_execution_still_changes_lr_every_step():
    x, y = _data(11)
    policy = sc.OneCycleSchedule.smith(0.05, STEPS, min_momentum=0.3)
    model = keras.Sequential(
        [keras.Input((D,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
    )
    if keras.backend.backend() == "torch":
        # Keras itself refuses it on PyTorch; nothing for OneCycle to handle there
        model.compile(keras.optimizers.SGD(0.1), "mse", steps_per_execution=4)
        with pytest.raises(ValueError, match="steps_per_execution"):
            model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
        return
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "mse", steps_per_execution=4)
    model.layers[0].kernel.assign(W0.astype("float32"))
    callback = sc.OneCycle(schedule=policy)
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0,
              callbacks=[callback])
    w, m = W0.astype(np.float64), np.zeros_like(W0, dtype=np.float64)
    for step, (xb, yb) in enumerate(_batches(x, y, EPOCHS)):
        m = policy.momentum(step) * m - policy.lr(step) * _grad(w, xb, yb)
        w = w + m
    np.testing.assert_allclose(model.layers[0].kernel.numpy(), w, rtol=2e-5, atol=1e-6)
    assert callback.applied["step"] == list(map(float, range(STEPS)))


class _RaiseAt(keras.callbacks.Callback):
    def __init__(self, batch: int) -> None:
        super().__init__()
        self.batch = batch

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.batch:
            raise RuntimeError("stop here")


def _plain_sgd_check(model, x, y, lr, momentum):
    w = np.array(model.layers[0].kernel.numpy(), dtype=np.float64)
    m = np.array(model.optimizer.momentums[0].numpy(), dtype=np.float64)
    got = _fit_and_record(model, x, y, 1, keras.callbacks.Callback())
    for i, (xb, yb) in enumerate(_batches(x, y, 1)):
        m = momentum * m - lr * _grad(w, xb, yb)
        w = w + m
        np.testing.assert_allclose(got[i], w, rtol=2e-5, atol=1e-6)


def test_a_fit_that_raises_leaves_no_hooks_for_the_next_plain_fit():
    x, y = _data(14)
    model = _linear_model(keras.optimizers.SGD(0.1, momentum=0.9), W0)
    with pytest.raises(RuntimeError, match="stop here"):
        model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
                  callbacks=[sc.OneCycle(0.05, min_momentum=0.3), _RaiseAt(1)])
    model.optimizer.learning_rate = 0.02
    _plain_sgd_check(model, x, y, lr=0.02, momentum=0.9)
    # and a new OneCycle after the failed fit still works
    policy = sc.OneCycleSchedule.smith(0.05, 4, min_momentum=0.3)
    callback = sc.OneCycle(schedule=policy)
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[callback])
    np.testing.assert_allclose(callback.applied["learning_rate"], policy.lr(np.arange(4)))


def test_detach_returns_a_model_to_plain_keras():
    from superconverge.callbacks import detach

    x, y = _data(15)
    model = _linear_model(keras.optimizers.SGD(0.1, momentum=0.9), W0)
    with pytest.raises(RuntimeError):
        model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0,
                  callbacks=[sc.OneCycle(0.05, min_momentum=0.3), _RaiseAt(2)])
    detach(model)
    detach(model)  # idempotent
    assert "make_train_function" not in vars(model)
    model.optimizer.learning_rate = 0.03
    _plain_sgd_check(model, x, y, lr=0.03, momentum=0.9)


def test_settings_are_checked_when_the_callback_is_created():
    with pytest.raises(ValueError, match="takes no 'min_momentm'"):
        sc.OneCycle(0.1, min_momentm=0.3)
    with pytest.raises(ValueError, match=r"min_lr .* must not exceed max_lr"):
        sc.OneCycle(0.1, min_lr=0.5)


def test_get_config_round_trips_with_and_without_a_schedule():
    from superconverge.callbacks import OneCycle

    plain = OneCycle(0.3, epochs=4, preset="pytorch", pct_start=0.2)
    again = OneCycle.from_config(plain.get_config())
    assert again.get_config() == plain.get_config()
    policy = sc.OneCycleSchedule.fastai(0.2, 40)
    given = OneCycle(schedule=policy)
    restored = OneCycle.from_config(given.get_config())
    assert restored.schedule == policy


def test_the_hooks_cost_no_retrace_and_no_host_read_per_step(monkeypatch):
    """Compiled backends evaluate the schedule only while tracing (a handful of times, not once
    per step); PyTorch reads the step counter only when the hooks are attached or placed."""
    from superconverge.callbacks import optimizer_hooks

    traced = {"n": 0}
    reads = {"n": 0}
    evaluate, host_step = optimizer_hooks.evaluate_piecewise, optimizer_hooks.host_step

    def counting_evaluate(*args, **kwargs):
        traced["n"] += 1
        return evaluate(*args, **kwargs)

    def counting_host_step(optimizer):
        reads["n"] += 1
        return host_step(optimizer)

    monkeypatch.setattr(optimizer_hooks, "evaluate_piecewise", counting_evaluate)
    monkeypatch.setattr(optimizer_hooks, "host_step", counting_host_step)
    x, y = _data(16)
    model = _linear_model(keras.optimizers.SGD(0.1, momentum=0.9), W0)
    epochs = 6
    model.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0,
              callbacks=[sc.OneCycle(0.05, min_momentum=0.3)])
    steps = epochs * N // BATCH
    if keras.backend.backend() == "torch":
        assert traced["n"] == 0 and reads["n"] <= 3
    else:
        assert 0 < traced["n"] <= 6 < steps  # LR + momentum, per trace
