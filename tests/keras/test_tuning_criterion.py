"""The tuning criterion on every backend: a short run is judged on the validation loss of the
data alone. Keras adds the L2 term of the kernels to every loss it reports (validation too), so
``weight_penalty`` must equal ``(λ/2)·Σ‖kernel‖²`` and ``val_loss − weight_penalty`` the plain
cross-entropy of the model's predictions."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from superconverge import data, models
from superconverge.tuning.trial import short_run, weight_penalty


@pytest.fixture(scope="module")
def tiny():
    return data.load("synthetic", n_train=96, n_test=16, image_size=8, validation_split=0.25,
                     seed=0)


def _kernels_sq(model: keras.Model) -> float:
    return sum(float(np.sum(keras.ops.convert_to_numpy(w) ** 2))
               for w in model.trainable_weights if w.path.endswith("kernel"))


def test_weight_penalty_is_the_l2_term_keras_adds_to_the_validation_loss(tiny):
    lam = 0.05
    model = models.build("simple_cnn", tiny.input_shape, tiny.num_classes, seed=0, width=4,
                         weight_decay=lam)
    models.compile_classifier(model, keras.optimizers.SGD(0.1))
    assert weight_penalty(model) == pytest.approx(lam / 2 * _kernels_sq(model), rel=1e-5)
    x, y = tiny.val.as_tuple()
    keras_loss = model.evaluate(x, y, batch_size=len(y), verbose=0, return_dict=True)["loss"]
    probabilities = model.predict(x, verbose=0)  # the built-in models end in a softmax
    cross_entropy = float(-np.mean(np.log(probabilities[np.arange(len(y)), y])))
    assert weight_penalty(model) > 0.05 * cross_entropy  # the term is not negligible here
    assert keras_loss - weight_penalty(model) == pytest.approx(cross_entropy, rel=1e-4)
    unregularized = models.build("simple_cnn", tiny.input_shape, tiny.num_classes, seed=0,
                                 width=4, weight_decay=0.0)
    assert weight_penalty(unregularized) == 0.0


def test_a_short_run_reports_the_data_loss(tiny):
    build = lambda **kw: models.build("simple_cnn", tiny.input_shape, tiny.num_classes,  # noqa: E731
                                      seed=0, width=4, **kw)
    seen: list[float] = []
    run = short_run(build, tiny, weight_decay=0.05, bn_momentum=0.9, max_lr=0.1, epochs=2,
                    batch_size=24, report=lambda epoch, loss: seen.append(loss) or False)
    history = run.history
    assert len(history["val_loss"]) == len(history["val_data_loss"]) == len(seen) == 2
    # the pruner and the result see the data loss, below Keras's loss by the L2 term; the
    # result is the final evaluation on the whole validation split (here as small as the
    # per-epoch one, so the two agree)
    assert seen == pytest.approx(history["val_data_loss"])
    assert run.val_loss == history["val_data_loss_final"][0]
    assert run.val_loss == pytest.approx(history["val_data_loss"][-1], rel=1e-4)
    assert all(k > d + 1e-3 for k, d in zip(history["val_loss"], history["val_data_loss"]))
