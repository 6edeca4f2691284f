"""Max-LR trials (`superconverge.finder.trials`) on a real `model.fit`, under each backend."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from superconverge.data.batches import ArrayBatches
from superconverge.finder import RangeTestError, TrialResult, candidate_max_lrs, lr_trials
from superconverge.finder.trials import LRTrial


def _data(n: int = 512, d: int = 8, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype("float32")
    y = np.argmax(x[:, :classes], axis=1).astype("int32")
    return x, y


def _classifier(*, metrics=("accuracy",)):
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(3)])
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=list(metrics))
    return model


def _values(model) -> list[np.ndarray]:
    return [np.array(keras.ops.convert_to_numpy(v.value), copy=True)
            for v in list(model.variables) + list(model.optimizer.variables)]


def test_the_lr_that_trains_wins_and_the_model_comes_back_unchanged():
    """Three candidates 3 decades apart: 1e-4 barely moves the weights in 40 steps, 100 blows
    up; 0.1 trains. The trials must pick 0.1 (a winner at the top or bottom would mean the
    scores are read the wrong way round), and leave every variable as it was."""
    x, y = _data()
    model = _classifier()
    before = _values(model)
    result = lr_trials(model, x[:384], y[:384], batch_size=32, max_lrs=[1e-4, 0.1, 100.0],
                       steps=40, validation_data=(x[384:], y[384:]))
    assert isinstance(result, TrialResult)
    accs = [t.val_accuracy for t in result.trials]
    assert accs[1] > 0.75 and accs[1] > accs[0] + 0.2 and accs[1] > accs[2] + 0.2, accs
    assert result.winner_max_lr == 0.1
    # the refinement moves at most half a step (1.5 decades here) from the winner
    assert 10 ** -2.5 <= result.best_max_lr <= 10 ** 0.5
    after = _values(model)
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_every_trial_starts_from_the_same_state_and_batches():
    """Two trials at the same max LR over more than one epoch of a rewindable batch source
    give the same validation loss: same initial weights, optimizer state and batch order."""
    x, y = _data()
    batches = ArrayBatches(x[:256], y[:256], batch_size=32, shuffle=True, seed=5)
    model = _classifier()
    result = lr_trials(model, batches, max_lrs=[0.3, 0.3], steps=20,
                       validation_data=(x[384:], y[384:]))
    first, second = result.trials
    assert math.isfinite(first.val_loss)
    assert first.val_loss == pytest.approx(second.val_loss, rel=1e-5, abs=1e-6)
    assert batches.epoch == 0


def test_loss_criterion_and_clear_errors():
    x, y = _data()
    val = (x[384:], y[384:])
    no_metric = _classifier(metrics=())
    with pytest.raises(RangeTestError, match="accuracy metric"):
        lr_trials(no_metric, x, y, batch_size=32, max_lrs=[0.1], steps=5, validation_data=val)
    result = lr_trials(no_metric, x, y, batch_size=32, max_lrs=[1e-4, 0.1], steps=30,
                       validation_data=val, criterion="loss")
    assert result.winner_max_lr == 0.1
    model = _classifier()
    for kwargs, match in [({"max_lrs": [1.0, 0.1]}, "ascending"),
                          ({"max_lrs": [0.0]}, "positive"),
                          ({"steps": 0}, "steps"),
                          ({"criterion": "f1"}, "criterion"),
                          ({"validation_data": None}, "validation_data")]:
        args = {"max_lrs": [0.1], "steps": 5, "validation_data": val, **kwargs}
        with pytest.raises(RangeTestError, match=match):
            lr_trials(model, x, y, batch_size=32, **args)


def test_candidates_and_scores():
    assert candidate_max_lrs(0.1, (1 / 3, -1 / 3, 0.0)) == pytest.approx(
        [0.1 * 10 ** (-1 / 3), 0.1, 0.1 * 10 ** (1 / 3)])
    with pytest.raises(RangeTestError, match="positive"):
        candidate_max_lrs(float("nan"))
    assert LRTrial(0.1, float("nan"), 0.5).score("loss") == -math.inf
    # ties go to the middle candidate
    tie = TrialResult((LRTrial(0.01, 1.0, 0.9), LRTrial(0.1, 1.0, 0.9), LRTrial(1.0, 1.0, 0.9)),
                      steps=1, criterion="accuracy")
    assert tie.winner_max_lr == 0.1 and tie.best_max_lr == pytest.approx(0.1)


def test_trials_at_chance_accuracy_have_not_learned():
    """learned(k): the best accuracy a >= c + p * (1 - c), c = 1/k (p = LR_TRIAL_MIN_PROGRESS):
    with 10 classes and p = 0.1 the line is 0.19; the 12-step trials of the benchmark's CNN
    without batch norm (10.0-11.4 %) fall below it."""
    from superconverge.defaults import LR_TRIAL_MIN_PROGRESS

    assert LR_TRIAL_MIN_PROGRESS == pytest.approx(0.1)

    def result(*accuracies):
        return TrialResult(tuple(LRTrial(10.0 ** -i, 2.3, a) for i, a in enumerate(accuracies)),
                           steps=12, criterion="accuracy")

    assert not result(0.100, 0.114, 0.105).learned(10)
    assert not result(0.18, 0.15, 0.12).learned(10)
    assert result(0.10, 0.191, 0.12).learned(10)
    assert not result(0.54, 0.52).learned(2)  # two classes: the line is 0.55
    assert result(0.56, 0.52).learned(2)
    assert result(0.3, 0.2).learned(10, min_progress=0.2) and not result(0.27).learned(10, 0.2)
    assert TrialResult((LRTrial(0.1, 1.0, None),), steps=1, criterion="loss").learned(10)
    for bad in ({"num_classes": 1}, {"num_classes": 10, "min_progress": 1.5}):
        with pytest.raises(RangeTestError):
            result(0.5).learned(**bad)


def test_an_upward_move_stands_only_if_the_longer_trials_confirm_it():
    """confirm_upward_move: the first round's refined pick when the winner (above the pick)
    beats the pick strictly in the longer trials, else the pick; ties keep the pick; the
    confirmation must try exactly the pick and the winner."""
    from superconverge.finder.trials import confirm_upward_move

    def result(steps, *pairs, criterion="accuracy"):
        return TrialResult(tuple(LRTrial(lr, 1.0 - a, a) for lr, a in pairs), steps=steps,
                           criterion=criterion)

    pick = 0.1
    up = result(12, (0.05, 0.30), (pick, 0.40), (0.2, 0.45))   # winner 0.2, above the pick
    assert up.moves_up(pick) and up.best_max_lr == pytest.approx(0.2)  # at the end: no vertex
    assert not result(12, (0.05, 0.5), (pick, 0.4), (0.2, 0.3)).moves_up(pick)
    assert not result(12, (0.05, 0.3), (pick, 0.5), (0.2, 0.4)).moves_up(pick)
    assert confirm_upward_move(up, pick, result(24, (pick, 0.50), (0.2, 0.55))) == up.best_max_lr
    assert confirm_upward_move(up, pick, result(24, (pick, 0.54), (0.2, 0.20))) == pick
    assert confirm_upward_move(up, pick, result(24, (pick, 0.50), (0.2, 0.50))) == pick
    by_loss = result(24, (pick, 0.5), (0.2, 0.6), criterion="loss")  # losses 0.5, 0.4
    assert confirm_upward_move(up, pick, by_loss) == up.best_max_lr
    with pytest.raises(RangeTestError, match="must try the pick and the winner"):
        confirm_upward_move(up, pick, result(24, (0.05, 0.5), (0.2, 0.6)))
    with pytest.raises(RangeTestError, match="must try the pick and the winner"):
        confirm_upward_move(up, pick, result(24, (pick, 0.5), (0.2, 0.6), (0.4, 0.1)))


def test_choose_max_lr_keeps_the_pick_unless_the_trials_learned_and_any_move_up_held():
    """choose_max_lr: the pick at chance; the refined winner without a move up (no longer
    trials asked for); a move up asks confirm([pick, winner]) and stands only if it wins."""
    from superconverge.finder.trials import choose_max_lr

    def result(steps, *pairs):
        return TrialResult(tuple(LRTrial(lr, 1.0 - a, a) for lr, a in pairs), steps=steps,
                           criterion="accuracy")

    asked = []

    def confirm_with(*accuracies):
        def confirm(max_lrs):
            asked.append(max_lrs)
            return result(24, *zip(max_lrs, accuracies))
        return confirm

    pick = 0.1
    chance = result(12, (0.05, 0.10), (pick, 0.11), (0.2, 0.12))
    choice = choose_max_lr(chance, pick, num_classes=10, confirm=confirm_with(0.5, 0.6))
    assert (choice.max_lr, choice.learned, choice.by_trials) == (pick, False, False)
    down = result(12, (0.05, 0.5), (pick, 0.45), (0.2, 0.3))
    choice = choose_max_lr(down, pick, num_classes=10, confirm=confirm_with(0.5, 0.6))
    assert choice.max_lr == down.best_max_lr and choice.by_trials and choice.held is None
    assert asked == []
    up = result(12, (0.05, 0.3), (pick, 0.4), (0.2, 0.45))
    held = choose_max_lr(up, pick, num_classes=10, confirm=confirm_with(0.5, 0.6))
    assert asked == [[pick, 0.2]]
    assert (held.max_lr, held.held, held.by_trials) == (up.best_max_lr, True, True)
    undone = choose_max_lr(up, pick, num_classes=10, confirm=confirm_with(0.6, 0.5))
    assert (undone.max_lr, undone.held, undone.by_trials) == (pick, False, False)
    assert undone.confirmation.steps == 24
