"""The recipe levers of the pipeline (issue 13) on every backend: label smoothing in the loss,
EMA weights with BN recalibration, flips in training and at test time, the LR's end, AdamW."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from superconverge.callbacks import OneCycle
from superconverge.losses import SparseSmoothedCrossentropy, flip_tta_predict
from superconverge.pipeline import Pipeline, RunConfig
from superconverge.tuning.trial import precise_bn

#: each test turns on the lever it is about; the others are off (not the pipeline's defaults)
_LEVERS_OFF = {"ema_momentum": None, "precise_bn": False, "label_smoothing": 0.0}


def _pipeline(tmp_path, **changes) -> Pipeline:
    return Pipeline(RunConfig(dataset="synthetic", seed=1, batch_size=64,
                              out=str(tmp_path / "run"), **{**_LEVERS_OFF, **changes}),
                    quiet=True)


def test_label_smoothing_closed_form():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype="float32")
    labels = np.array([0, 1])
    eps, k = 0.2, 3
    target = np.full((2, 3), eps / k)
    target[np.arange(2), labels] += 1 - eps
    expected = -(target * np.log(probs)).sum(axis=1).mean()
    got = float(keras.ops.convert_to_numpy(SparseSmoothedCrossentropy(eps)(labels, probs)))
    assert got == pytest.approx(expected, rel=1e-5)
    plain = keras.losses.SparseCategoricalCrossentropy()(labels, probs)
    got0 = SparseSmoothedCrossentropy(0.0)(labels, probs)
    assert float(keras.ops.convert_to_numpy(got0)) == pytest.approx(
        float(keras.ops.convert_to_numpy(plain)), rel=1e-5)


def test_label_smoothing_reaches_the_training_loss_and_survives_saving(tmp_path):
    pipeline = _pipeline(tmp_path, label_smoothing=0.2)
    model = pipeline.new_model(bn_momentum=0.9, weight_decay=0.0)
    pipeline.compile(model, keras.optimizers.SGD(0.01, momentum=0.9))
    assert isinstance(model.loss, SparseSmoothedCrossentropy)
    assert model.loss.label_smoothing == 0.2
    x, y = pipeline.data.val.as_tuple()
    probs = np.asarray(model.predict(x, verbose=0), dtype=np.float64)
    k = probs.shape[1]
    target = np.full(probs.shape, 0.2 / k)
    target[np.arange(len(y)), y.reshape(-1).astype(int)] += 0.8
    expected = -(target * np.log(np.clip(probs, 1e-7, 1.0))).sum(axis=1).mean()
    loss = model.evaluate(x, y, batch_size=512, verbose=0)[0]
    assert loss == pytest.approx(expected, rel=1e-4)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.loss, SparseSmoothedCrossentropy)
    assert loaded.loss.label_smoothing == 0.2
    # the baseline never smooths
    plain = pipeline.compile(pipeline.new_model(bn_momentum=0.9, weight_decay=0.0),
                             keras.optimizers.SGD(0.01), smoothing=False)
    assert not isinstance(plain.loss, SparseSmoothedCrossentropy)


def _train(pipeline: Pipeline, *, ema: bool) -> keras.Model:
    model = pipeline.new_model(bn_momentum=0.9, weight_decay=0.0)
    pipeline.compile(model, pipeline.make_optimizer(0.05, 0.9, ema=ema))
    model.fit(pipeline._train_batches(), epochs=2, shuffle=False, verbose=0)
    return model


def test_ema_with_precise_bn_changes_the_evaluated_weights(tmp_path):
    plain_pipeline = _pipeline(tmp_path / "a")
    ema_pipeline = _pipeline(tmp_path / "b", ema_momentum=0.8, precise_bn=True)
    plain = _train(plain_pipeline, ema=True)  # ema_momentum None: no averaging
    assert not plain.optimizer.use_ema
    model = _train(ema_pipeline, ema=True)
    optimizer = model.optimizer
    assert optimizer.use_ema and float(optimizer.ema_momentum) == pytest.approx(0.8)
    averages = [keras.ops.convert_to_numpy(v) for v in optimizer._model_variables_moving_average]
    before_bn = [keras.ops.convert_to_numpy(v) for v in model.non_trainable_variables]
    done = ema_pipeline.finish_one_cycle(model)
    assert done["ema"] and done["precise_bn_layers"] > 0
    assert 0.0 <= done["val_accuracy"] <= 1.0
    weights = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    for w, a in zip(weights, averages):
        np.testing.assert_allclose(w, a, rtol=1e-6, atol=1e-7)
    # same seed, same batches: the averaged weights differ from the last iterate's
    raw = [keras.ops.convert_to_numpy(v) for v in plain.trainable_variables]
    assert max(float(np.abs(w - r).max()) for w, r in zip(weights, raw)) > 1e-4
    # BN statistics were recomputed for the averaged weights
    after_bn = [keras.ops.convert_to_numpy(v) for v in model.non_trainable_variables]
    assert max(float(np.abs(a - b).max()) for a, b in zip(after_bn, before_bn)) > 1e-6
    again = [keras.ops.convert_to_numpy(v) for v in model.non_trainable_variables]
    precise_bn(model, ema_pipeline.data.train.x, batch_size=64,
               num_batches=max(50, -(-6400 // 64)), seed=1)
    for a, b in zip(again, [keras.ops.convert_to_numpy(v) for v in model.non_trainable_variables]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    x, y = ema_pipeline.data.val.as_tuple()
    assert done["val_accuracy"] == pytest.approx(ema_pipeline.evaluate_model(model, x, y)[1])


def test_flip_tta_averages_the_image_and_its_mirror(tmp_path):
    pipeline = _pipeline(tmp_path, tta_flip=True)
    model = pipeline.compile(pipeline.new_model(bn_momentum=0.9, weight_decay=0.0),
                             keras.optimizers.SGD(0.01))
    x, y = pipeline.data.val.as_tuple()
    expected = (np.asarray(model.predict(x, verbose=0), dtype=np.float64)
                + np.asarray(model.predict(x[:, :, ::-1, :], verbose=0), dtype=np.float64)) / 2
    np.testing.assert_allclose(flip_tta_predict(model, x), expected, rtol=1e-5, atol=1e-6)
    loss, accuracy = pipeline.evaluate_model(model, x, y, tta=True)
    labels = y.reshape(-1).astype(int)
    assert accuracy == pytest.approx(float((expected.argmax(1) == labels).mean()))
    assert loss == pytest.approx(float(-np.log(expected[np.arange(len(labels)), labels]).mean()),
                                 rel=1e-4)


def test_train_flip_mirrors_some_training_images_and_nothing_else(tmp_path):
    pipeline = _pipeline(tmp_path, train_flip=True)
    xf, yf = pipeline._train_batches(flip=True)[0]
    x, y = pipeline._train_batches()[0]
    np.testing.assert_array_equal(yf, y)
    same = np.all(xf == x, axis=(1, 2, 3))
    mirrored = np.all(xf == x[:, :, ::-1, :], axis=(1, 2, 3))
    assert np.all(same | mirrored) and mirrored.sum() > 0 and (~mirrored).sum() > 0


def test_train_shift_translates_the_training_images_by_at_most_its_pixels(tmp_path):
    shift = 2
    pipeline = _pipeline(tmp_path, train_shift=shift)
    xs, ys = pipeline._train_batches(shift=shift)[0]
    x, y = pipeline._train_batches()[0]
    np.testing.assert_array_equal(ys, y)
    height, width = x.shape[1:3]
    padded = np.pad(x, ((0, 0), (shift, shift), (shift, shift), (0, 0)))
    offsets = []
    for image, shifted in zip(padded, xs, strict=True):
        found = [(dy, dx) for dy in range(2 * shift + 1) for dx in range(2 * shift + 1)
                 if np.array_equal(image[dy:dy + height, dx:dx + width], shifted)]
        assert found, "a training image is not a translation of the original by <= shift"
        offsets.append(found[0])
    assert len(set(offsets)) > 1 and any(o != (shift, shift) for o in offsets)


def test_lr_end_reaches_the_applied_schedule():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="mse")
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    callback = OneCycle(0.1, epochs=2, end="zero_half")
    model.fit(x, x[:, :1], batch_size=8, epochs=2, shuffle=False, verbose=0,
              callbacks=[callback])
    lrs = callback.applied["learning_rate"]
    assert lrs[-1] == 0.0 and max(lrs) == pytest.approx(0.1, rel=0.2)


def test_adamw_moves_the_weight_decay_into_the_optimizer(tmp_path):
    pipeline = _pipeline(tmp_path, optimizer="adamw", adamw_weight_decay=0.03)
    optimizer = pipeline.make_optimizer(1e-3, 0.9)
    assert isinstance(optimizer, keras.optimizers.AdamW)
    assert float(optimizer.weight_decay) == pytest.approx(0.03)
    assert float(optimizer.beta_1) == pytest.approx(0.9)
    assert pipeline.model_weight_decay(5e-4) == 0.0
    sgd = _pipeline(tmp_path / "s", nesterov=True).make_optimizer(0.1, 0.9)
    assert isinstance(sgd, keras.optimizers.SGD) and sgd.nesterov
    assert _pipeline(tmp_path / "s2").model_weight_decay(5e-4) == 5e-4


@pytest.mark.parametrize(("shape", "warmup"), [("warmup_cosine", 0.1), ("warmup_linear", 0.3)])
def test_lr_shape_is_what_the_pipeline_applies(tmp_path, shape, warmup):
    import csv
    import json

    pipeline = _pipeline(tmp_path, lr_shape=shape, warmup_fraction=warmup, max_lr=0.05,
                         epochs=2, train_subset=256, baseline_epochs=0)
    pipeline.run(stages=["prepare", "bounds", "one_cycle"])
    schedule = json.loads(pipeline.directory.one_cycle_schedule.read_text())
    assert schedule["name"] == shape
    with pipeline.directory.applied("one_cycle").open() as handle:
        rows = [(float(r["step"]), float(r["learning_rate"])) for r in csv.DictReader(handle)]
    total = 2 * pipeline.steps_per_epoch()
    steps = np.array([s for s, _ in rows])
    assert steps.tolist() == list(map(float, range(total)))
    w = warmup * total
    decay = (1 + np.cos(np.pi * (steps - w) / (total - w))) / 2 if shape == "warmup_cosine" \
        else 1 - (steps - w) / (total - w)
    expected = np.where(steps <= w, 0.05 * steps / w, 0.05 * decay)
    np.testing.assert_allclose([lr for _, lr in rows], expected, rtol=1e-5, atol=1e-7)
