"""OneCycle and the range test under the ``mixed_bfloat16`` policy (bfloat16 compute, float32
variables), on whichever backend KERAS_BACKEND selects."""

from __future__ import annotations

import keras
import numpy as np

import superconverge as sc
from superconverge.finder import lr_range_test
from superconverge.pipeline.pipeline import precision_policy


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = (np.argmax(x[:, :3], axis=1)).astype("int32")
    return x, y


def _model(precision: str) -> keras.Model:
    keras.utils.set_random_seed(3)
    with precision_policy(precision):
        model = keras.Sequential([
            keras.Input((6,)), keras.layers.Dense(16), keras.layers.BatchNormalization(),
            keras.layers.ReLU(), keras.layers.Dense(3),
            keras.layers.Activation("softmax", dtype="float32"),
        ])
    model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy")
    return model


def _fit(precision: str, callback) -> np.ndarray:
    x, y = _data()
    model = _model(precision)
    model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0, callbacks=[callback])
    assert all(v.dtype == "float32" for v in model.trainable_variables)
    assert all(v.dtype in ("float32", "int32", "int64") for v in model.optimizer.variables)
    return np.concatenate([np.ravel(keras.ops.convert_to_numpy(w))
                           for w in model.trainable_variables])


def test_one_cycle_under_mixed_bfloat16_follows_the_float32_run():
    policy = sc.OneCycleSchedule.smith(0.3, 12, min_momentum=0.3)
    bf16 = _fit("mixed_bfloat16", sc.OneCycle(schedule=policy))
    fp32 = _fit("float32", sc.OneCycle(schedule=policy))
    other = _fit("float32", sc.OneCycle(schedule=policy, cycle_momentum=False))
    error = np.max(np.abs(bf16 - fp32))
    # bfloat16 keeps ~3 significant digits (weights here are of order 1): close to float32,
    # and much closer than the run whose momentum was not cycled (so the scheduled momentum
    # took effect under bfloat16)
    assert error < 0.1
    assert np.max(np.abs(other - fp32)) > 4 * error


def test_range_test_under_mixed_bfloat16_restores_the_model():
    x, y = _data()
    model = _model("mixed_bfloat16")
    model.optimizer.build(model.trainable_variables)
    before = [np.array(keras.ops.convert_to_numpy(v)) for v in model.variables]
    result = lr_range_test(model, x, y, batch_size=16, steps=12, start_lr=1e-4, end_lr=1.0)
    assert len(result) == 12 and np.isfinite(result.losses).all()
    after = [np.array(keras.ops.convert_to_numpy(v)) for v in model.variables]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
