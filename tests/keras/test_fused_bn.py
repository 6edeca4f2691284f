"""FusedBatchNormalization against Keras's own BatchNormalization: same outputs, moving
statistics, trained weights and saved files on every backend (on torch through PyTorch's
kernel, elsewhere through the fallback to Keras's own ``call``), and the same gradients where
they are torch's autograd; ``fuse_batch_norm`` switches layers on torch only."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from superconverge.models import build
from superconverge.models.fused_bn import (
    FusedBatchNormalization,
    fuse_batch_norm,
    fusion_available,
)

ON_TORCH = keras.backend.backend() == "torch"


def _fuse_every_bn(model) -> int:
    """Switch the BN layers to the fused class on any backend (``fuse_batch_norm`` does it on
    torch only), so the fallback path is tested too."""
    layers = [layer for layer in model.layers if type(layer) is keras.layers.BatchNormalization]
    for layer in layers:
        layer.__class__ = FusedBatchNormalization
    return len(layers)


def _pair(shape, **kwargs):
    plain = keras.layers.BatchNormalization(**kwargs)
    fused = keras.layers.BatchNormalization(**kwargs)
    plain.build(shape)
    fused.build(shape)
    rng = np.random.default_rng(0)
    channels = shape[-1]
    values = (1 + 0.1 * rng.normal(size=channels), 0.1 * rng.normal(size=channels),
              0.2 * rng.normal(size=channels), 1 + 0.3 * rng.random(size=channels))
    for layer in (plain, fused):  # gamma, beta, moving mean, moving variance
        for weight, value in zip(layer.weights, values):
            weight.assign(value.astype("float32"))
    fused.__class__ = FusedBatchNormalization
    return plain, fused


@pytest.mark.parametrize("shape", [(8, 6, 5, 4), (8, 7, 3), (16, 5)])
def test_training_forward_and_moving_statistics_match_keras(shape):
    plain, fused = _pair(shape, momentum=0.9, epsilon=1e-3)
    initial_mean = fused.moving_mean.numpy().copy()
    rng = np.random.default_rng(1)
    for _ in range(3):  # three updates of the moving statistics
        x = (2 + 3 * rng.normal(size=shape)).astype("float32")
        np.testing.assert_allclose(keras.ops.convert_to_numpy(fused(x, training=True)),
                                   keras.ops.convert_to_numpy(plain(x, training=True)),
                                   rtol=1e-4, atol=1e-5)
    for got, want in zip(fused.non_trainable_weights, plain.non_trainable_weights):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    # the statistics did move (momentum 0.9, batch means near 2): not constants compared
    assert np.abs(fused.moving_mean.numpy() - initial_mean).mean() > 0.2


@pytest.mark.parametrize("shape", [(8, 6, 5, 4), (8, 7, 3), (16, 5)])
def test_gradients_match_keras(shape):
    """Off torch the fused class is Keras's own ``call``, so its gradients are Keras's by
    construction (the forward test above pins that path); on torch they come from
    ``torch.native_batch_norm``'s backward and are compared here."""
    plain, fused = _pair(shape, momentum=0.9, epsilon=1e-3)
    x = (2 + 3 * np.random.default_rng(1).normal(size=shape)).astype("float32")
    assert fused._fusable(keras.ops.convert_to_tensor(x), None) == ON_TORCH
    if not ON_TORCH:
        return
    import torch

    grads = []
    for layer in (plain, fused):
        xt = torch.tensor(x, requires_grad=True)
        y = layer(xt, training=True)
        (y * torch.arange(y.numel()).reshape(y.shape).float().sin()).sum().backward()
        grads.append([xt.grad.numpy(), layer.gamma.value.grad.numpy().copy(),
                      layer.beta.value.grad.numpy().copy()])
    for got, want in zip(grads[1], grads[0]):
        np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)


def test_inference_and_frozen_layers_use_the_moving_statistics():
    plain, fused = _pair((4, 3, 3, 5), epsilon=1e-3)
    x = np.random.default_rng(2).normal(size=(4, 3, 3, 5)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fused(x, training=False)),
                               keras.ops.convert_to_numpy(plain(x, training=False)),
                               rtol=1e-5, atol=1e-6)
    fused.trainable = plain.trainable = False  # Keras: a frozen BN runs in inference mode
    before = fused.moving_mean.numpy().copy()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(fused(x, training=True)),
                               keras.ops.convert_to_numpy(plain(x, training=True)),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(fused.moving_mean.numpy(), before)


def test_fit_with_fused_layers_trains_the_same_model():
    rng = np.random.default_rng(3)
    x = rng.random((96, 12, 12, 1)).astype("float32")
    y = rng.integers(0, 3, 96)
    weights = []
    for fuse in (False, True):
        keras.utils.set_random_seed(0)
        model = build("simple_cnn", (12, 12, 1), 3, seed=0, width=4)
        if fuse:
            assert _fuse_every_bn(model) == 5
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                      loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        weights.append([w.numpy() for w in model.weights])
    moved = max(float(np.abs(a - b).max()) for a, b in zip(weights[0], build(
        "simple_cnn", (12, 12, 1), 3, seed=0, width=4).get_weights()))
    assert moved > 1e-2  # training changed the weights; the comparison below is not trivial
    for fused_w, plain_w in zip(weights[1], weights[0]):
        np.testing.assert_allclose(fused_w, plain_w, rtol=1e-3, atol=1e-4)


def test_a_fused_model_saves_as_plain_keras(tmp_path):
    model = build("simple_cnn", (8, 8, 1), 2, seed=0, width=2)
    assert _fuse_every_bn(model) == 5
    assert fuse_batch_norm(model) == 0  # already fused: nothing left to switch
    model.save(tmp_path / "m.keras")
    assert sum(isinstance(layer, FusedBatchNormalization) for layer in model.layers) == 5
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    bns = [layer for layer in loaded.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) == 5
    assert all(type(layer) is keras.layers.BatchNormalization for layer in bns)
    for got, want in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_mixed_precision_falls_back_to_keras():
    plain, fused = _pair((4, 3, 3, 2))
    x = np.random.default_rng(4).normal(size=(4, 3, 3, 2)).astype("float32")
    xb = keras.ops.cast(x, "bfloat16")
    assert not fused._fusable(xb, None)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.ops.cast(fused(xb, training=True), "float32")),
        keras.ops.convert_to_numpy(keras.ops.cast(plain(xb, training=True), "float32")),
        rtol=1e-6)


def test_other_backends_are_left_alone():
    model = build("simple_cnn", (8, 8, 1), 2, seed=0, width=2)
    switched = fuse_batch_norm(model)
    if fusion_available():
        assert switched == 5
    else:
        assert switched == 0
        assert all(type(layer) is not FusedBatchNormalization for layer in model.layers)
