"""Every model builds and trains a step on the current backend; BN momentum and weight decay."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from superconverge import models
from superconverge.models import ModelInputError, UnknownModelError

SHAPES = {
    "simple_cnn": (28, 28, 1),
    "resnet20": (32, 32, 3),
    "resnet56": (16, 16, 3),
    "resnet9": (32, 32, 3),
}


def _compile(model, lr=0.05, **kwargs):
    model.compile(
        optimizer=keras.optimizers.SGD(lr, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        **kwargs,
    )
    return model


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_build_and_train_one_step(name):
    shape = SHAPES[name]
    # resnet56 runs eagerly: tracing/jitting its 56-layer backward pass costs ~10 s per backend,
    # and resnet20 already exercises the compiled path of the very same code.
    eager = name == "resnet56" and keras.backend.backend() != "jax"  # JAX eager is slower
    model = _compile(models.build(name, shape, 10, weight_decay=5e-4, seed=0), run_eagerly=eager)
    rng = np.random.default_rng(0)
    x = rng.random((8, *shape), dtype=np.float32)
    y = np.arange(8) % 10
    before = [w.copy() for w in model.get_weights()]
    hist = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    after = model.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True))
    probs = model.predict(x, verbose=0)
    assert probs.shape == (8, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_architecture_facts():
    r20 = models.build("resnet20", (32, 32, 3), 10)
    assert 0.26e6 < r20.count_params() < 0.28e6  # He et al.: 0.27M
    convs = [lay for lay in r20.layers if isinstance(lay, keras.layers.Conv2D)]
    assert len(convs) == 19  # option A: no projection convs; 19 conv + 1 dense = 20
    b = models.build("resnet20", (32, 32, 3), 10, shortcut="B")
    assert len([lay for lay in b.layers if isinstance(lay, keras.layers.Conv2D)]) == 21
    r56 = models.build("resnet56", (32, 32, 3), 10)
    assert 0.84e6 < r56.count_params() < 0.86e6  # He et al.: 0.85M
    assert len(models.batch_norm_layers(r56)) == 55
    r9 = models.build("resnet9", (32, 32, 3), 10)
    assert 6.5e6 < r9.count_params() < 6.6e6
    logits = models.build("simple_cnn", (40, 1), 10, output="logits")
    assert logits.output_shape == (None, 10) and logits.layers[-1].name == "fc"
    assert models.available() == ["resnet20", "resnet56", "resnet9", "simple_cnn"]


def test_seed_reproducible_and_layers_differ():
    a = models.build("simple_cnn", (28, 28, 1), 10, seed=7).get_weights()
    b = models.build("simple_cnn", (28, 28, 1), 10, seed=7).get_weights()
    for wa, wb in zip(a, b, strict=True):
        np.testing.assert_array_equal(wa, wb)
    m = models.build("resnet20", (32, 32, 3), 10, seed=7)
    k1 = keras.ops.convert_to_numpy(m.get_layer("s1b1_a_conv").kernel)
    k2 = keras.ops.convert_to_numpy(m.get_layer("s1b1_b_conv").kernel)
    assert k1.shape == k2.shape and not np.allclose(k1, k2)


def test_weight_decay_is_caffe_convention():
    lam = 1e-3
    model = models.build("simple_cnn", (12, 12, 1), 3, weight_decay=lam, seed=0)
    model(np.zeros((1, 12, 12, 1), np.float32))
    kernels = [
        keras.ops.convert_to_numpy(lay.kernel)
        for lay in model.layers
        if isinstance(lay, keras.layers.Conv2D | keras.layers.Dense)
    ]
    expected = lam / 2 * sum(float(np.sum(k.astype(np.float64) ** 2)) for k in kernels)
    got = float(sum(keras.ops.convert_to_numpy(v) for v in model.losses))
    assert got == pytest.approx(expected, rel=1e-5)
    assert len(model.losses) == len(kernels)  # kernels only: no BN or bias decay
    assert models.build("simple_cnn", (12, 12, 1), 3).losses == []
    with pytest.raises(ValueError):
        models.build("simple_cnn", (12, 12, 1), 3, weight_decay=-1.0)


def test_set_bn_momentum_takes_effect_on_compiled_model():
    model = models.build("simple_cnn", (8, 8, 1), 2, bn_momentum=0.99, seed=0)
    # lr = 0: the weights stay put, so the first BN sees the same batch statistics every step
    _compile(model, lr=0.0)
    rng = np.random.default_rng(0)
    x = rng.random((16, 8, 8, 1), dtype=np.float32) + 3.0
    y = np.arange(16) % 2
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)  # traces with 0.99
    conv_out = keras.Model(model.input, model.get_layer("block1_conv").output)
    batch_mean = np.asarray(conv_out.predict(x, verbose=0)).mean(axis=(0, 1, 2))
    bn = model.get_layer("block1_bn")
    assert not np.allclose(keras.ops.convert_to_numpy(bn.moving_mean), batch_mean, atol=1e-3)
    assert models.set_bn_momentum(model, 0.0) == 5
    assert all(layer.momentum == 0.0 for layer in models.batch_norm_layers(model))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    # momentum 0: the moving mean is exactly the last batch mean
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(bn.moving_mean), batch_mean, rtol=1e-4, atol=1e-4
    )
    with pytest.raises(ValueError):
        models.set_bn_momentum(model, 1.5)
    assert models.build("simple_cnn", (8, 8, 1), 2, bn_momentum=0.9).get_layer(
        "block1_bn"
    ).momentum == pytest.approx(0.9)


def test_set_bn_momentum_in_nested_model():
    inner = models.build("simple_cnn", (8, 8, 1), 2)
    outer = keras.Sequential([keras.Input((8, 8, 1)), inner])
    assert models.set_bn_momentum(outer, 0.5) == 5
    assert inner.get_layer("block3_bn").momentum == 0.5


def test_unknown_model_lists_names():
    with pytest.raises(UnknownModelError) as info:
        models.build("vgg16", (32, 32, 3), 10)
    for name in ("resnet20", "resnet56", "resnet9", "simple_cnn"):
        assert name in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "name, shape, classes, match",
    [
        ("resnet20", (40, 1), 10, "height, width, channels"),
        ("resnet56", (32, 32), 10, "simple_cnn"),
        ("resnet9", (4, 4, 3), 10, "too small"),
        ("resnet9", (40, 1), 10, "1-D"),
        ("simple_cnn", (28, 28, 1, 1), 10, "channels last"),
        ("simple_cnn", (28, 28, 1), 1, "num_classes"),
        ("resnet20", (0, 32, 3), 10, "non-positive"),
        ("resnet20", "abc", 10, "input_shape"),
    ],
)
def test_bad_shapes(name, shape, classes, match):
    with pytest.raises(ModelInputError, match=match):
        models.build(name, shape, classes)
