"""benchmarks/lr_trials.py: the trial winner, its refinement and the held-out choice."""

from __future__ import annotations

import math

import pytest
from conftest import benchmark_module


@pytest.fixture(scope="module")
def trials():
    yield from benchmark_module("lr_trials")


def test_winner_by_accuracy_or_loss_and_ties_to_the_middle(trials):
    lrs = [0.1, 0.2, 0.4]
    runs = [{"val_acc": 0.5, "val_loss": 1.0}, {"val_acc": 0.7, "val_loss": 0.9},
            {"val_acc": 0.8, "val_loss": 0.95}]
    def winner(runs, criterion):
        return lrs.index(trials.trial_result(lrs, runs, criterion).winner_max_lr)

    assert winner(runs, "val_acc") == 2
    assert winner(runs, "val_loss") == 1
    tie = [{"val_acc": 0.7, "val_loss": 1.0}] * 3
    assert winner(tie, "val_acc") == 1


def test_refined_pick_is_the_parabola_vertex_within_half_a_step(trials):
    lrs = [10 ** -1.0, 10 ** -0.5, 10 ** 0.0]
    # scores of -(x + 0.6)^2 at x = -1, -0.5, 0: vertex at -0.6, inside half a step
    runs = [{"val_acc": -(x + 0.6) ** 2, "val_loss": 0.0} for x in (-1.0, -0.5, 0.0)]
    def refined(runs):
        return trials.trial_result(lrs, runs, "val_acc").best_max_lr

    assert math.log10(refined(runs)) == pytest.approx(-0.6)
    steep = [{"val_acc": a, "val_loss": 0.0} for a in (0.0, 1.0, 0.99)]
    assert math.log10(refined(steep)) <= -0.25 + 1e-9


def _row(task, epochs, auto, short, refined):
    return {"task": task, "epochs": epochs, "regret_auto": auto,
            "by_fraction": {"0.1": {"regret": short, "refined_regret": refined}}}


def test_held_out_choice_never_sees_the_task_it_scores(trials):
    # refined wins on a and b, the trial winner on c: c is scored with refined (chosen on a
    # and b), a and b with the trial winner (chosen with c among the others)
    rows = [_row("a", 2, 1.0, 0.8, 0.1), _row("b", 2, 1.0, 0.9, 0.2),
            _row("c", 2, 1.0, 0.0, 5.0)]
    held = trials.held_out_choice(rows, ["trials_0.1", "refined_0.1"])
    assert held["chosen"] == {"a": "trials_0.1", "b": "trials_0.1", "c": "refined_0.1"}
    assert held["by_budget"]["2"]["held_out"]["mean"] == pytest.approx((0.8 + 0.9 + 5.0) / 3)
    assert held["by_budget"]["pooled"]["auto"]["mean"] == pytest.approx(1.0)
    assert trials.held_out_choice(rows[:1], ["trials_0.1"]) == {}


def test_the_pipeline_choice_keeps_auto_where_no_trial_learned(trials):
    """The pipeline's choice is the refined winner, or auto's pick where the trials stayed at
    chance (``learned`` false); the Markdown shows that row only where it differs."""
    import argparse

    def row(task, auto, refined, learned):
        return {"task": task, "seed": 0, "epochs": 2, "steps": 10, "auto_lr": 0.1,
                "candidates": [0.05, 0.1, 0.2], "candidate_regrets": [0.0, auto, 0.0],
                "regret_auto": auto, "regret_oracle": 0.0,
                "by_fraction": {"0.1": {"trial_steps": 1, "trials": [], "winner_lr": 0.2,
                                        "regret": refined, "refined_lr": 0.2,
                                        "refined_regret": refined, "learned": learned,
                                        "pipeline_regret": refined if learned else auto}}}

    args = argparse.Namespace(fractions=[0.1], offsets=[-1 / 3, 0.0, 1 / 3],
                              criterion="val_acc")
    rows = [row("a", 1.0, 0.0, True), row("b", 2.0, 30.0, False)]
    payload = trials.summarize(rows, args, [], [0.0, 0.0, 0.0])
    budget = payload["by_budget"]["2"]
    assert budget["refined_0.1"]["mean"] == pytest.approx(15.0)
    assert budget["pipeline_0.1"]["mean"] == pytest.approx(1.0)
    assert budget["pipeline_0.1_kept_auto"] == 1
    assert any("the pipeline's choice" in line for line in trials.markdown(payload))
    learned_only = trials.summarize(rows[:1], args, [], [0.0, 0.0, 0.0])
    assert not any("the pipeline's choice" in line for line in trials.markdown(learned_only))


def test_confirmed_choice_replays_the_longer_trials(trials):
    """add_confirmations: an upward winner keeps its refined regret only where the longer
    fraction's trials rank it above auto's pick; else auto's regret; no move or no learning as
    the pipeline's choice; no row where the longer fraction was not run."""
    def entry(accs, learned=True, refined_regret=0.5):
        return {"trial_steps": 10, "trials": [{"val_acc": a, "val_loss": 1 - a} for a in accs],
                "learned": learned, "refined_regret": refined_regret,
                "pipeline_regret": refined_regret if learned else 3.0}

    def row(short, longer):
        return {"auto_lr": 0.1, "candidates": [0.05, 0.1, 0.2], "regret_auto": 3.0,
                "by_fraction": {"0.125": short, "0.25": longer}}

    held = row(entry([0.3, 0.4, 0.5]), entry([0.3, 0.6, 0.7]))
    undone = row(entry([0.3, 0.4, 0.5]), entry([0.9, 0.6, 0.5]))
    down = row(entry([0.5, 0.4, 0.3], refined_regret=1.5), entry([0.3, 0.6, 0.7]))
    chance = row(entry([0.1, 0.1, 0.12], learned=False), entry([0.3, 0.6, 0.7]))
    for r in (held, undone, down, chance):
        trials.add_confirmations(r, "val_acc", num_classes=10)
    assert held["by_fraction"]["0.125"]["pipeline_regret"] == 0.5
    assert held["by_fraction"]["0.125"]["confirmation"] == {"steps": 10, "moved_up": True,
                                                           "held": True}
    assert undone["by_fraction"]["0.125"]["pipeline_regret"] == 3.0
    assert undone["by_fraction"]["0.125"]["confirmation"]["held"] is False
    assert down["by_fraction"]["0.125"]["pipeline_regret"] == 1.5
    assert chance["by_fraction"]["0.125"]["pipeline_regret"] == 3.0
    assert "confirmation" not in held["by_fraction"]["0.25"]  # 0.5 was not run
