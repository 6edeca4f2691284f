"""Version canary for the Keras update rules copied into ``callbacks/optimizer_hooks.py``.

The hooks replace ``SGD.update_step`` and ``Adam.update_step`` (TensorFlow, JAX) with copies
that read a scheduled momentum. Under a *constant* schedule equal to the optimizer's own
settings, a hooked optimizer must move the weights exactly as the installed Keras does; if a
Keras release changes its rule, this fails and the copies must be updated (and the ``keras``
range in ``pyproject.toml`` with them).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from superconverge.callbacks import optimizer_hooks
from superconverge.schedules import Phase, PiecewiseSchedule


def _constant(value: float, steps: int = 100) -> PiecewiseSchedule:
    return PiecewiseSchedule((Phase(value, value, steps),))


def _train(optimizer, *, hooked: bool, momentum_attr: str | None, lr: float,
           momentum_shift: float = 0.0) -> np.ndarray:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
                              keras.layers.Dense(2)])
    model.compile(optimizer=optimizer, loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = rng.normal(size=(64, 2)).astype("float32")
    if hooked:
        optimizer.build(model.trainable_variables)
        momentum = None
        if momentum_attr is not None:
            momentum = _constant(float(getattr(optimizer, momentum_attr)) - momentum_shift)
        optimizer_hooks.attach(optimizer, _constant(lr), momentum)
    model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    if hooked:
        optimizer_hooks.detach(optimizer)
    return np.concatenate([np.ravel(keras.ops.convert_to_numpy(w)) for w in model.weights])


@pytest.mark.parametrize(
    ("make", "attr"),
    [
        (lambda: keras.optimizers.SGD(0.05, momentum=0.9), "momentum"),
        (lambda: keras.optimizers.SGD(0.05, momentum=0.8, nesterov=True), "momentum"),
        (lambda: keras.optimizers.Adam(0.01, beta_1=0.85), "beta_1"),
        (lambda: keras.optimizers.Adam(0.01, beta_1=0.9, amsgrad=True), "beta_1"),
        (lambda: keras.optimizers.AdamW(0.01, beta_1=0.9, weight_decay=0.05), "beta_1"),
    ],
)
def test_hooked_rule_equals_the_installed_keras_rule(make, attr):
    lr = float(make().learning_rate)
    plain = _train(make(), hooked=False, momentum_attr=None, lr=lr)
    hooked = _train(make(), hooked=True, momentum_attr=attr, lr=lr)
    np.testing.assert_allclose(hooked, plain, rtol=1e-5, atol=1e-6)
    # and the comparison is sensitive: another momentum moves the weights elsewhere
    other = _train(make(), hooked=True, momentum_attr=attr, lr=lr, momentum_shift=0.3)
    assert np.max(np.abs(other - plain)) > 1e-4
