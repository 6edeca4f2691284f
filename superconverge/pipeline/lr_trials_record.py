"""``lr_trials.json``: what the pipeline's max-LR trials decided, and the one sentence that
explains it to a user (``bounds.json``'s reason and the report both use it).

The record holds the first round (``TrialResult.to_dict``: ``steps``, ``criterion``,
``winner_max_lr``, ``best_max_lr``, ``trials``), ``fraction``, ``range_test_max_lr``,
``offsets_decades``, ``learned``, ``chance_accuracy``, ``min_progress``, ``confirmation`` (the
longer trials' ``to_dict`` plus ``held``, or ``null`` when the winner did not lie above the
pick), ``chosen_max_lr`` and ``chosen_by`` (``"lr_trials"`` or ``"range_test"``). Records
written before the confirmation existed lack the last keys and read as learned and unconfirmed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _lr(value: float) -> str:
    return f"{value:.3g}"


def verdict(record: Mapping[str, Any]) -> str:
    """What the trials did, in one clause: near chance (the range test's pick trains), a move
    up that longer runs did not confirm (the pick trains), or the max LR they chose."""
    tried = ", ".join(_lr(t["max_lr"]) for t in record["trials"])
    runs = f"trial runs of {record['steps']} steps at {tried}"
    confirmation = record.get("confirmation")
    if not record.get("learned", True):
        return (f"{runs} stayed near chance accuracy, too short to rank them, so the range "
                "test's pick trains (a larger lr_trial_fraction lets them learn)")
    if confirmation and not confirmation["held"]:
        return (f"{runs} preferred {_lr(record['winner_max_lr'])}, above the range test's "
                f"pick, but runs of {confirmation['steps']} steps did not confirm it, so the "
                "range test's pick trains")
    chosen = record.get("chosen_max_lr", record["best_max_lr"])
    return (f"{runs} chose {_lr(chosen)} by validation {record['criterion']} (the winner "
            f"{_lr(record['winner_max_lr'])}, refined)"
            + (f"; its move up confirmed by runs of {confirmation['steps']} steps"
               if confirmation else ""))
