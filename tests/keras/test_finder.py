"""LR range test on a real `model.fit`, run under each Keras backend (KERAS_BACKEND)."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from keras import ops

from superconverge.finder import LRRangeTest, RangeTestError, RangeTestResult, lr_range_test
from superconverge.finder.sweep import sweep_lrs

BACKEND = keras.backend.backend()


# ---------------------------------------------------------------------- helpers
def _data(n: int = 256, d: int = 8, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = (np.argmax(x[:, :classes], axis=1)).astype("int32")
    return x, y


def _classifier(optimizer, *, bn: bool = True, dropout: bool = True, d: int = 8):
    keras.utils.set_random_seed(1)
    layers = [keras.Input((d,)), keras.layers.Dense(16)]
    if bn:
        layers.append(keras.layers.BatchNormalization())
    layers.append(keras.layers.ReLU())
    if dropout:
        layers.append(keras.layers.Dropout(0.2))
    layers.append(keras.layers.Dense(3))
    model = keras.Sequential(layers)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _values(model) -> list[np.ndarray]:
    variables = list(model.variables) + list(model.optimizer.variables)
    return [np.array(keras.ops.convert_to_numpy(v.value), copy=True) for v in variables]


def _assert_same(before: list[np.ndarray], model) -> None:
    after = _values(model)
    assert len(before) == len(after)
    for i, (a, b) in enumerate(zip(before, after)):
        assert a.dtype == b.dtype and np.array_equal(a, b), f"variable {i} changed"


class _Raise(keras.callbacks.Callback):
    def __init__(self, at: int, exc: BaseException) -> None:
        super().__init__()
        self.at, self.exc = at, exc

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.at:
            raise self.exc


class _Changed(keras.callbacks.Callback):
    """Records whether the first kernel moved away from its initial value during the sweep."""

    def __init__(self) -> None:
        super().__init__()
        self.initial = None
        self.changed = False

    def on_train_batch_begin(self, batch, logs=None):
        if self.initial is None:
            self.initial = keras.ops.convert_to_numpy(self.model.trainable_variables[0].value)

    def on_train_batch_end(self, batch, logs=None):
        now = keras.ops.convert_to_numpy(self.model.trainable_variables[0].value)
        self.changed = self.changed or not np.array_equal(now, self.initial)


# ---------------------------------------------------------------------- what is recorded
def _linear_loss_model(w0: float, metrics: list[str] | None = None):
    """y_pred = w·x with x = 1 and loss = mean(y_pred): loss = w, dloss/dw = 1, so plain SGD
    gives w_{i+1} = w_i - lr_i and the loss of batch i is w0 - Σ_{j<i} lr_j exactly."""
    model = keras.Sequential(
        [
            keras.Input((1,)),
            keras.layers.Dense(
                1, use_bias=False, kernel_initializer=keras.initializers.Constant(w0)
            ),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=lambda yt, yp: ops.mean(yp),
                  metrics=metrics)
    return model


def _kernel(model) -> float:
    return float(keras.ops.convert_to_numpy(model.trainable_variables[0].value).ravel()[0])


# with another metric, only the loss metric is zeroed before each step (the other keeps its
# running mean) and the loss logged must still be that batch's own. A freshly compiled model
# gets the sweep inside its compiled step; one trained before (its train step already traced)
# gets it from the host: both must record and apply the same thing.
@pytest.mark.parametrize("history", ["fresh", "trained-before"])
@pytest.mark.parametrize("metrics", [None, ["mae"]], ids=["loss-only", "with-metric"])
def test_records_each_batch_loss_and_lr_reaches_the_compiled_step(metrics, history):
    n, bs = 20, 4
    model = _linear_loss_model(100.0, metrics)
    x = np.ones((n * bs, 1), "float32")
    y = np.zeros((n * bs, 1), "float32")
    if history == "trained-before":
        model.fit(x[:bs], y[:bs], batch_size=bs, epochs=1, verbose=0)  # one step at LR 0.5
    w0, steps_before = _kernel(model), (history == "trained-before")
    cb = LRRangeTest(1e-2, 2.0, steps=n, diverge=None)
    model.fit(x, y, batch_size=bs, epochs=1, shuffle=False, callbacks=[cb], verbose=0)
    assert cb.in_step is (history == "fresh")
    r = cb.result
    assert r.metadata["sweep_in_step"] is cb.in_step
    lr32 = sweep_lrs(1e-2, 2.0, n).astype("float32").astype("float64")
    expected = w0 - np.concatenate([[0.0], np.cumsum(lr32)[:-1]])
    assert r.stop_reason == "completed" and len(r) == n
    np.testing.assert_allclose(r.lrs, sweep_lrs(1e-2, 2.0, n))
    np.testing.assert_allclose(r.losses, expected, rtol=0, atol=2e-4)
    # The running mean since the epoch start (what Keras logs by default) is far off.
    running = np.cumsum(expected) / np.arange(1, n + 1)
    assert np.abs(running[-5:] - r.losses[-5:]).max() > 1.0
    # The weight moved by exactly Σ lr_i: every step ran at its LR of the sweep.
    assert _kernel(model) == pytest.approx(w0 - lr32.sum(), abs=2e-4)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations.value)) == n + steps_before


def _plain_step_moves_kernel_by(model, lr: float, steps: int = 2) -> float:
    """Set the LR variable, fit ``steps`` plain steps; return how far the kernel moved (the
    linear loss model moves by exactly the LR per step when nothing else drives it)."""
    x, y = np.ones((4 * steps, 1), "float32"), np.zeros((4 * steps, 1), "float32")
    model.optimizer.learning_rate = lr
    before = _kernel(model)
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    return before - _kernel(model)


@pytest.mark.parametrize("ending", ["normal", "exception"])
def test_in_step_sweep_leaves_a_plain_model(ending):
    """After an in-step sweep, also one whose fit raised, the next plain fit follows the LR
    variable (no sweep left in the step) and the model's train step is its own again."""
    model = _linear_loss_model(100.0)
    n = 20
    x, y = np.ones((4 * n, 1), "float32"), np.zeros((4 * n, 1), "float32")
    cb = LRRangeTest(1e-2, 2.0, steps=n, diverge=None)
    callbacks = [cb] + ([_Raise(5, RuntimeError("boom"))] if ending == "exception" else [])
    if ending == "exception":
        with pytest.raises(RuntimeError, match="boom"):
            model.fit(x, y, batch_size=4, callbacks=callbacks, verbose=0)
    else:
        model.fit(x, y, batch_size=4, callbacks=callbacks, verbose=0)
    assert cb.in_step
    # 2 steps at 0.03 move the kernel by 0.06; a sweep left in the step would move it by >= 2
    assert _plain_step_moves_kernel_by(model, 0.03) == pytest.approx(0.06, abs=1e-5)
    assert not {"train_step", "make_train_function"} & set(vars(model))


def test_in_step_sweep_is_traced_once_not_per_step(monkeypatch):
    """Compiled backends evaluate the sweep only while tracing the step; PyTorch looks the LR
    up in a table (no formula per step)."""
    from superconverge.callbacks import optimizer_hooks

    traced = {"n": 0}
    evaluate = optimizer_hooks.evaluate_piecewise

    def counting_evaluate(*args, **kwargs):
        traced["n"] += 1
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(optimizer_hooks, "evaluate_piecewise", counting_evaluate)
    n = 30
    model = _linear_loss_model(100.0)
    cb = LRRangeTest(1e-2, 2.0, steps=n, diverge=None)
    model.fit(np.ones((4 * n, 1), "float32"), np.zeros((4 * n, 1), "float32"), batch_size=4,
              callbacks=[cb], verbose=0)
    assert cb.in_step and len(cb.result) == n
    if BACKEND == "torch":
        assert traced["n"] == 0
    else:
        assert 0 < traced["n"] <= 3 < n


def test_lr_range_test_on_a_fresh_model_costs_its_next_fit_no_extra_trace():
    # the runner's fit made the untraced train function the next fit uses: given back
    x, y = _data(160)
    model = _classifier(keras.optimizers.SGD(0.01, momentum=0.9), dropout=False)
    assert model.train_function is None
    lr_range_test(model, x, y, batch_size=16, start_lr=1e-4, end_lr=1.0, diverge=None)
    made_by_the_range_tests_fit = model.train_function
    assert made_by_the_range_tests_fit is not None
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert model.train_function is made_by_the_range_tests_fit


class _BatchLoss(keras.callbacks.Callback):
    """Independent per-batch MSE at the weights the batch is trained from."""

    def __init__(self, x, y, bs):
        super().__init__()
        self.x, self.y, self.bs, self.losses = x, y, bs, []

    def on_train_batch_begin(self, batch, logs=None):
        model = self.model
        xb = self.x[batch * self.bs : (batch + 1) * self.bs]
        yb = self.y[batch * self.bs : (batch + 1) * self.bs]
        pred = keras.ops.convert_to_numpy(model(xb, training=False)).astype("float64")
        self.losses.append(float(np.mean((pred - yb) ** 2)))


def test_recorded_losses_equal_independent_per_batch_losses():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(240, 5)).astype("float32")
    y = (x @ rng.normal(size=(5, 1)) + 0.1).astype("float32")
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(8, "tanh"),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "mse")
    check = _BatchLoss(x, y, 12)
    result = lr_range_test(model, x, y, batch_size=12, start_lr=1e-4, end_lr=1.0,
                           shuffle=False, diverge=None, callbacks=[check])
    # `check` runs after the range-test callback's reset, before the step itself.
    assert len(result) == 20 and result.stop_reason == "completed"
    np.testing.assert_allclose(result.losses, check.losses, rtol=2e-5, atol=1e-6)


# ---------------------------------------------------------------------- exact restore
OPTIMIZERS = {
    "sgd_momentum": lambda: keras.optimizers.SGD(0.01, momentum=0.9),
    "adam": lambda: keras.optimizers.Adam(1e-3),
}


@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
@pytest.mark.parametrize("ending", ["normal", "exception"])
def test_state_restored_bitwise(opt, ending):
    x, y = _data()
    model = _classifier(OPTIMIZERS[opt]())
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # non-trivial slots, iterations > 0
    history = model.history
    before = _values(model)
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations.value)) == 8
    probe = _Changed()
    if ending == "normal":
        r = lr_range_test(model, x, y, batch_size=16, start_lr=1e-4, end_lr=10.0,
                          callbacks=[probe])
        assert len(r) > 0
    else:
        with pytest.raises(RuntimeError, match="boom"):
            lr_range_test(model, x, y, batch_size=16, start_lr=1e-4, end_lr=10.0,
                          callbacks=[probe, _Raise(5, RuntimeError("boom"))])
    assert probe.changed  # the sweep did train
    _assert_same(before, model)
    assert model.history is history
    assert model.stop_training is False
    # and the model still trains normally afterwards
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)


def test_unbuilt_optimizer_comes_back_built_and_fresh():
    x, y = _data()
    model = _classifier(keras.optimizers.Adam(3e-3), dropout=False)
    assert not model.optimizer.built
    weights = _values_model_only(model)
    lr_range_test(model, x, y, batch_size=16, end_lr=1.0)
    assert model.optimizer.built
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations.value)) == 0
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(3e-3)
    for v in model.optimizer.variables:
        if v is model.optimizer.iterations or v is model.optimizer.learning_rate:
            continue
        assert not np.any(keras.ops.convert_to_numpy(v.value)), v.path
    for a, b in zip(weights, _values_model_only(model)):
        assert np.array_equal(a, b)
    assert getattr(model, "history", None) is None


def _values_model_only(model):
    return [np.array(keras.ops.convert_to_numpy(v.value), copy=True) for v in model.variables]


def test_keyboard_interrupt_restores_and_returns_partial_result():
    x, y = _data()
    model = _classifier(keras.optimizers.SGD(0.01, momentum=0.9))
    model.optimizer.build(model.trainable_variables)
    before = _values(model)
    r = lr_range_test(model, x, y, batch_size=16, callbacks=[_Raise(6, KeyboardInterrupt())])
    assert r.stop_reason == "interrupted" and len(r) == 7 and r.stop_step == 6
    _assert_same(before, model)
    with pytest.raises(KeyboardInterrupt):
        lr_range_test(model, x, y, batch_size=16, catch_interrupt=False,
                      callbacks=[_Raise(3, KeyboardInterrupt())])
    _assert_same(before, model)


# ---------------------------------------------------------------------- stopping
def _regression(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(512, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")).astype("float32")
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.01), "mse")
    return model, x, y


def test_stops_on_divergence():
    model, x, y = _regression()
    r = lr_range_test(model, x, y, batch_size=8, start_lr=1e-4, end_lr=100.0)
    assert r.stop_reason == "diverged"
    assert len(r) < r.num_steps == 64
    assert r.stop_step == len(r) - 1 >= 10
    finite = r.smoothed_losses[np.isfinite(r.smoothed_losses)]
    assert r.smoothed_losses[-1] > 4.0 * finite.min()
    assert np.all(r.smoothed_losses[:-1] <= 4.0 * finite.min())


def test_stops_on_non_finite_loss():
    model, x, y = _regression()
    r = lr_range_test(model, x, y, batch_size=8, start_lr=1e-2, end_lr=1e12, diverge=None)
    assert r.stop_reason == "non_finite"
    assert not np.isfinite(r.losses[-1]) and np.all(np.isfinite(r.losses[:-1]))
    assert r.stop_step == len(r) - 1 < r.num_steps


def test_min_steps_delays_the_divergence_check():
    model, x, y = _regression()
    r = lr_range_test(model, x, y, batch_size=8, start_lr=1.0, end_lr=1e3, min_steps=10)
    assert r.stop_reason in {"diverged", "non_finite"}
    if r.stop_reason == "diverged":
        assert r.stop_step >= 10


# ---------------------------------------------------------------------- inputs and modes
def test_linear_mode_and_metadata():
    model, x, y = _regression()
    r = lr_range_test(model, x, y, batch_size=32, start_lr=1e-4, end_lr=1e-2, mode="linear")
    assert r.mode == "linear" and r.num_steps == 16 and len(r) == 16
    np.testing.assert_allclose(r.lrs, np.linspace(1e-4, 1e-2, 16))
    assert r.batch_size == 32 and r.backend == BACKEND


def test_steps_longer_than_one_epoch_repeat_the_data():
    model, x, y = _regression()
    r = lr_range_test(model, x[:64], y[:64], batch_size=8, steps=20, end_lr=1e-2)
    assert len(r) == 20 and r.stop_reason == "completed"


def test_pydataset_input():
    x, y = _data(128)

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 16

        def __getitem__(self, i):
            return x[i * 8 : (i + 1) * 8], y[i * 8 : (i + 1) * 8]

    model = _classifier(keras.optimizers.SGD(0.01, momentum=0.9), dropout=False)
    model.optimizer.build(model.trainable_variables)
    before = _values(model)
    r = lr_range_test(model, Batches(), end_lr=1.0)
    assert len(r) == 16
    _assert_same(before, model)


def test_tf_data_input():
    tf = pytest.importorskip("tensorflow")
    x, y = _data(160)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    model = _classifier(keras.optimizers.SGD(0.01, momentum=0.9), dropout=False)
    r = lr_range_test(model, ds, end_lr=1.0)
    assert len(r) == 10 and r.batch_size is None
    with pytest.raises(RangeTestError, match="steps=N"):
        lr_range_test(model, ds.repeat(), end_lr=1.0)
    r = lr_range_test(model, ds.repeat(), end_lr=1.0, steps=12)
    assert len(r) == 12


def test_unbuilt_subclassed_model_is_built_from_first_batch():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.d1 = keras.layers.Dense(8, activation="relu")
            self.d2 = keras.layers.Dense(3)

        def call(self, inputs):
            return self.d2(self.d1(inputs))

    x, y = _data(160)
    model = Net()
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    r = lr_range_test(model, x, y, batch_size=16, end_lr=1.0)
    assert model.built and len(r) == 10
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations.value)) == 0


def test_validation_loss_and_accuracy_recorded():
    x, y = _data(320)
    model = _classifier(keras.optimizers.SGD(0.01, momentum=0.9))
    model.optimizer.build(model.trainable_variables)
    before = _values(model)
    r = lr_range_test(model, x[:256], y[:256], batch_size=16, end_lr=1.0, diverge=None,
                      validation_data=(x[256:], y[256:]), validation_every=4,
                      validation_batches=2)
    assert list(r.val_steps) == [3, 7, 11, 15]
    assert r.val_losses.shape == (4,) and np.all(np.isfinite(r.val_losses))
    assert r.val_accuracies is not None and np.all((r.val_accuracies >= 0) & (
        r.val_accuracies <= 1))
    np.testing.assert_allclose(r.val_lrs, r.lrs[[3, 7, 11, 15]])
    _assert_same(before, model)
    # training after validation still updates weights in training mode (BN stats move)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)


def test_callback_used_directly_with_fit_one_epoch_default():
    x, y = _data(160)
    model = _classifier(keras.optimizers.SGD(0.01, momentum=0.9), dropout=False)
    cb = LRRangeTest(1e-5, 1.0)
    model.fit(x, y, batch_size=16, epochs=3, callbacks=[cb], verbose=0)
    r = cb.result
    assert isinstance(r, RangeTestResult)
    assert len(r) == r.num_steps == 10  # one epoch, then stop_training
    assert r.stop_reason == "completed"
    # the callback does not restore: the LR variable holds the last swept value
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(1.0)


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"start_lr": 1e-3, "end_lr": 1e-3}, "larger than start_lr"),
        ({"start_lr": 1.0, "end_lr": 0.1}, "larger than start_lr"),
        ({"start_lr": 0.0}, "start_lr must be > 0"),
        ({"start_lr": -1e-3}, "start_lr must be > 0"),
        ({"end_lr": math.nan}, "finite"),
        ({"steps": 5}, "at least 10 steps"),
        ({"mode": "cosine"}, "Unknown mode"),
        ({"smooth": 1.0}, "smooth"),
        ({"diverge": 0.5}, "diverge must be > 1"),
        ({"batch_size": 64}, "one epoch"),  # 160 / 64 -> 3 steps
    ],
)
def test_bad_arguments(kwargs, match):
    x, y = _data(160)
    model = _classifier(keras.optimizers.SGD(0.01), dropout=False)
    kwargs.setdefault("batch_size", 16)
    with pytest.raises(RangeTestError, match=match) as info:
        lr_range_test(model, x, y, **kwargs)
    assert isinstance(info.value, ValueError)


def test_bad_models_and_data():
    x, y = _data(160)
    uncompiled = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    with pytest.raises(RangeTestError, match="not compiled"):
        lr_range_test(uncompiled, x, y)
    model = _classifier(keras.optimizers.SGD(0.01), dropout=False)
    with pytest.raises(RangeTestError, match="empty"):
        lr_range_test(model, x[:0], y[:0])
    sched = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
    with pytest.raises(RangeTestError, match="schedule"):
        lr_range_test(_classifier(keras.optimizers.SGD(sched), dropout=False), x, y)
    spe = _classifier(keras.optimizers.SGD(0.01), dropout=False)
    spe.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy",
                steps_per_execution=2)
    with pytest.raises(RangeTestError, match="steps_per_execution"):
        lr_range_test(spe, x, y, batch_size=16)
    with pytest.raises(RangeTestError, match=r"keras\.Model"):
        lr_range_test(object(), x, y)


# ---------------------------------------------------------------------- result round trip
def test_result_save_load_plot(tmp_path):
    model, x, y = _regression()
    r = lr_range_test(model, x, y, batch_size=8, start_lr=1e-4, end_lr=100.0)
    path = r.save(tmp_path / "sub" / "range.json")
    back = RangeTestResult.load(path)
    np.testing.assert_array_equal(back.lrs, r.lrs)
    np.testing.assert_array_equal(back.losses, r.losses)
    assert back.stop_reason == r.stop_reason and back.stop_step == r.stop_step
    assert [p.name for p in path.parent.iterdir()] == ["range.json"]  # no temp file left
    ax = r.plot(path=tmp_path / "range.png", suggestion=False)
    assert (tmp_path / "range.png").stat().st_size > 1000
    assert ax.get_xscale() == "log"


def test_suggest_delegates():
    model, x, y = _regression()
    r = lr_range_test(model, x, y, batch_size=8, start_lr=1e-4, end_lr=100.0)
    s = r.suggest()
    assert 0 < s.min_lr < s.max_lr <= r.lrs.max()


# ------------------------------------------------- bad training data (issue 15, items 5 and 7)
def test_nan_inputs_are_reported_before_the_sweep_not_read_as_divergence():
    x, y = _data()
    x[37, 2] = np.nan
    model = _classifier(keras.optimizers.SGD(0.01, momentum=0.9))
    model.optimizer.build(model.trainable_variables)
    before = _values(model)
    with pytest.raises(RangeTestError, match=r"non-finite values .* first in example 37"):
        lr_range_test(model, x, y, batch_size=32, steps=20)
    _assert_same(before, model)


@pytest.mark.parametrize("labels", ["too_large", "negative"])
def test_labels_outside_the_models_outputs_are_refused(labels):
    # JAX gathers out of bounds silently: loss 0 and a "completed" sweep without this check
    x, y = _data()
    y = y.copy()
    y[5] = 3 if labels == "too_large" else -1
    model = _classifier(keras.optimizers.SGD(0.01, momentum=0.9))
    with pytest.raises(RangeTestError, match="the model has 3 outputs"):
        lr_range_test(model, x, y, batch_size=32, steps=20)


def test_in_range_labels_and_one_hot_targets_pass_the_check():
    x, y = _data()
    model = _classifier(keras.optimizers.SGD(0.01, momentum=0.9))
    result = lr_range_test(model, x, y, batch_size=32, steps=12)
    assert len(result) == 12 and result.metadata["inputs_checked_finite"] is True
    one_hot = np.eye(3, dtype="float32")[y]
    keras.utils.set_random_seed(1)
    dense = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3)])
    dense.compile(keras.optimizers.SGD(0.01), keras.losses.CategoricalCrossentropy(True))
    assert len(lr_range_test(dense, x, one_hot, batch_size=32, steps=12)) == 12


def test_auto_warns_on_an_adam_sweep_and_not_on_an_sgd_one(caplog):
    """The sweep records its optimizer; `auto` read off an Adam curve warns (its margin below
    divergence is an SGD measurement), `minimum` and SGD curves do not."""
    import logging

    x, y = _data()
    for optimizer, warns in ((keras.optimizers.Adam(1e-3), True),
                             (keras.optimizers.SGD(0.01, momentum=0.9), False)):
        result = lr_range_test(_classifier(optimizer), x, y, batch_size=32, start_lr=1e-5,
                               end_lr=10.0, steps=40)
        assert result.metadata["optimizer"] == type(optimizer).__name__
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="superconverge.finder.result"):
            result.suggest()
            assert ("method='minimum'" in caplog.text) is warns
            caplog.clear()
            result.suggest(method="minimum")
            assert "method='minimum'" not in caplog.text
