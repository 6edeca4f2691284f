"""FusedBatchNormalization against Keras's own BatchNormalization: same outputs, gradients and
moving statistics (torch backend), and a no-op on the other backends."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from superconverge.models import build
from superconverge.models.fused_bn import (
    FusedBatchNormalization,
    fuse_batch_norm,
    fusion_available,
    keras_batch_norm,
)

torch_only = pytest.mark.skipif(keras.backend.backend() != "torch",
                                reason="the fused kernel is PyTorch's (other backends: no-op test)")


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


@torch_only
@pytest.mark.parametrize("shape", [(8, 6, 5, 4), (8, 7, 3), (16, 5)])
def test_training_forward_backward_and_moving_statistics_match_keras(shape):
    import torch

    plain, fused = _pair(shape, momentum=0.9, epsilon=1e-3)
    initial_mean = fused.moving_mean.numpy().copy()
    rng = np.random.default_rng(1)
    for _ in range(3):  # three updates of the moving statistics
        x = (2 + 3 * rng.normal(size=shape)).astype("float32")
        grads = []
        outputs = []
        for layer in (plain, fused):
            xt = torch.tensor(x, requires_grad=True)
            y = layer(xt, training=True)
            (y * torch.arange(y.numel()).reshape(y.shape).float().sin()).sum().backward()
            outputs.append(y.detach().numpy())
            grads.append([xt.grad.numpy(), layer.gamma.value.grad.numpy().copy(),
                          layer.beta.value.grad.numpy().copy()])
            layer.gamma.value.grad = None
            layer.beta.value.grad = None
        np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-4, atol=1e-5)
        for got, want in zip(grads[1], grads[0]):
            np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-5)
    for got, want in zip(fused.non_trainable_weights, plain.non_trainable_weights):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    # the statistics did move (momentum 0.9, batch means near 2): not constants compared
    assert np.abs(fused.moving_mean.numpy() - initial_mean).mean() > 0.2


@torch_only
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


@torch_only
def test_fit_with_fused_layers_trains_the_same_model():
    rng = np.random.default_rng(3)
    x = rng.random((96, 12, 12, 1)).astype("float32")
    y = rng.integers(0, 3, 96)
    weights = []
    for fuse in (False, True):
        keras.utils.set_random_seed(0)
        model = build("simple_cnn", (12, 12, 1), 3, seed=0, width=4)
        if fuse:
            assert fuse_batch_norm(model) == 5
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                      loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        weights.append([w.numpy() for w in model.weights])
    moved = max(float(np.abs(a - b).max()) for a, b in zip(weights[0], build(
        "simple_cnn", (12, 12, 1), 3, seed=0, width=4).get_weights()))
    assert moved > 1e-2  # training changed the weights; the comparison below is not trivial
    for fused_w, plain_w in zip(weights[1], weights[0]):
        np.testing.assert_allclose(fused_w, plain_w, rtol=1e-3, atol=1e-4)


@torch_only
def test_saved_inside_keras_batch_norm_loads_as_plain_keras(tmp_path):
    model = build("simple_cnn", (8, 8, 1), 2, seed=0, width=2)
    assert fuse_batch_norm(model) == 5
    assert fuse_batch_norm(model) == 0  # already fused: nothing left to switch
    with keras_batch_norm(model):
        model.save(tmp_path / "m.keras")
    assert sum(isinstance(layer, FusedBatchNormalization) for layer in model.layers) == 5
    model.save(tmp_path / "direct.keras")  # no context: a fused layer saves as Keras' own
    for name in ("m.keras", "direct.keras"):
        loaded = keras.saving.load_model(tmp_path / name)
        bns = [layer for layer in loaded.layers
               if isinstance(layer, keras.layers.BatchNormalization)]
        assert len(bns) == 5
        assert all(type(layer) is keras.layers.BatchNormalization for layer in bns)
        np.testing.assert_array_equal(loaded.get_weights()[1], model.get_weights()[1])


@torch_only
def test_mixed_precision_falls_back_to_keras():
    plain, fused = _pair((4, 3, 3, 2))
    x = np.random.default_rng(4).normal(size=(4, 3, 3, 2)).astype("float32")
    import torch

    xb = torch.tensor(x).to(torch.bfloat16)
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
