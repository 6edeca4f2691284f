"""Per-step cost of OneCycle and of the LR range test, interleaved step by step (issue 16).

``overhead.py`` and ``range_test_overhead.py`` time whole ``fit`` calls in alternating rounds;
on this shared 2-CPU host the machine's speed drifts by ~10 % from one round to the next, so
their 95 % intervals stay near ±4 % even with 30 rounds. Here the drift is cancelled at the
finest grain there is: three models of the same architecture and initial weights train side by
side in one process, one step each in turn, and every step is timed:

* ``plain``: ``model.train_on_batch`` of a plain compiled model;
* ``one_cycle``: the same with a :class:`superconverge.OneCycle` attached the way ``fit`` does
  it (``on_train_begin``, ``on_epoch_begin``): its schedule runs inside the compiled step;
* ``range_test``: the same with :class:`superconverge.finder.LRRangeTest` attached to a
  freshly compiled model, as ``fit`` attaches it: the sweep's LR and the zeroing of the loss
  metric run inside the compiled step (:mod:`superconverge.finder.in_step`), its per-batch
  hooks around each step do the loss bookkeeping; over a sweep low enough (1e-4 → 1e-2) that
  nothing diverges;
* ``range_test_host``: the same on a model whose train step was traced before (one step
  trained first): the range test then sets the LR and zeroes the loss metric from the host
  before each step.

The order of the four rotates from step to step. The ratio of a variant: the geometric mean
over steps of (its step time / the plain step time of the same turn), with a 95 % t-interval of
the mean log ratio; the median of the per-turn ratios is given too. What this leaves out is
timed directly and reported beside it: OneCycle's per-epoch hooks (``on_epoch_end``) and
the range test's once-per-test costs (snapshot + restore of the model), both in µs; and
``train_on_batch`` returns its logs as NumPy values, so every variant syncs each step (a plain
``fit`` without batch-level callbacks may run ahead on TensorFlow and JAX; that part of the
range test's cost is in ``range_test_overhead.md``). Run it alone on the machine.

    python benchmarks/interleaved_overhead.py [--backends torch tensorflow jax] [--steps 1500]

Writes benchmarks/results/interleaved_overhead.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from common import (
    BACKENDS,
    RESULTS,
    geometric_interval,
    merge_runs,
    run_worker,
    system_info,
    write_results,
)

VARIANTS = ("plain", "one_cycle", "range_test", "range_test_host")
WARMUP_STEPS = 10
#: batches cycled through (distinct data, little memory)
DISTINCT_BATCHES = 20
#: repetitions of each directly timed hook
HOOK_CALLS = 200


def _worker(steps: int, batch: int, seed: int) -> dict:
    import keras
    import numpy as np

    import superconverge as sc
    from superconverge import data, models
    from superconverge.callbacks import leftovers
    from superconverge.callbacks import one_cycle as one_cycle_module
    from superconverge.finder import LRRangeTest, in_step
    from superconverge.finder.state import TrainingState

    splits = data.load("fashion_mnist", seed=seed, train_subset=DISTINCT_BATCHES * batch)
    x, y = splits.train.as_tuple()
    batches = [(x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch])
               for i in range(DISTINCT_BATCHES)]
    total = steps + WARMUP_STEPS

    def build() -> keras.Model:
        keras.utils.set_random_seed(seed)
        model = models.build("simple_cnn", splits.input_shape, splits.num_classes)
        model.compile(keras.optimizers.SGD(0.01, momentum=0.9),
                      "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    plain, cycled, ranged, ranged_host = build(), build(), build(), build()
    one_cycle = sc.OneCycle(0.1, total_steps=total)
    one_cycle.set_model(cycled)
    one_cycle.set_params({"epochs": 1, "steps": total, "verbose": 0})
    one_cycle.on_train_begin()
    one_cycle.on_epoch_begin(0)
    # fit calls make_train_function once; train_on_batch calls it every step, and the guard
    # that drops hooks left by a fit that raised would remove the schedule there
    leftovers.withdraw(cycled, one_cycle_module._LEFTOVER_NAME)

    def start_range_test(model: keras.Model) -> LRRangeTest:
        callback = LRRangeTest(1e-4, 1e-2, steps=total, diverge=None)
        callback.set_model(model)  # before fit makes a train function, as in fit
        callback.set_params({"epochs": 1, "steps": total, "verbose": 0})
        model.make_train_function()
        callback.on_train_begin()
        leftovers.withdraw(model, in_step.LEFTOVER_NAME)
        return callback

    range_test = start_range_test(ranged)
    # one plain step first: its train step is traced, so the range test works from the host
    ranged_host.train_on_batch(*batches[0])
    range_test_host = start_range_test(ranged_host)
    assert range_test.in_step and not range_test_host.in_step

    def step_plain(xb, yb, i):
        plain.train_on_batch(xb, yb, return_dict=True)

    def step_cycle(xb, yb, i):
        cycled.train_on_batch(xb, yb, return_dict=True)

    def range_step(callback: LRRangeTest, model: keras.Model) -> Callable:
        def step(xb, yb, i):
            callback.on_train_batch_begin(i)
            logs = model.train_on_batch(xb, yb, return_dict=True)
            callback.on_train_batch_end(i, logs)
        return step

    runners = {"plain": step_plain, "one_cycle": step_cycle,
               "range_test": range_step(range_test, ranged),
               "range_test_host": range_step(range_test_host, ranged_host)}
    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for i in range(total):
        xb, yb = batches[i % DISTINCT_BATCHES]
        k = i % len(VARIANTS)
        for name in VARIANTS[k:] + VARIANTS[:k]:
            start = time.perf_counter()
            runners[name](xb, yb, i)
            elapsed = time.perf_counter() - start
            if i >= WARMUP_STEPS:
                times[name].append(elapsed)
    one_cycle.on_epoch_end(0, {})
    applied = one_cycle.applied["learning_rate"]

    def drift(model: keras.Model) -> float:
        return max(float(np.max(np.abs(keras.ops.convert_to_numpy(a)
                                       - keras.ops.convert_to_numpy(b))))
                   for a, b in zip(model.trainable_weights, plain.trainable_weights, strict=True))

    # the schedules ran inside the steps: same data and initial weights as the plain model,
    # different weights now (the plain one kept LR 0.01 throughout; the in-step sweep went
    # 1e-4 -> 1e-2, so a sweep that never reached the step would leave the weights equal)
    assert len(applied) == total and drift(cycled) > 1e-3, (len(applied), drift(cycled))
    assert drift(ranged) > 1e-3, drift(ranged)
    assert range_test.steps_recorded == range_test_host.steps_recorded == total

    def per_call(function, calls: int = HOOK_CALLS) -> float:
        start = time.perf_counter()
        for _ in range(calls):
            function()
        return (time.perf_counter() - start) / calls

    epoch_end = per_call(lambda: one_cycle.on_epoch_end(0, {}))
    snapshot = TrainingState.capture(ranged)
    capture = per_call(lambda: TrainingState.capture(ranged), 20)
    restore = per_call(lambda: snapshot.restore(ranged), 20)
    return {"backend": keras.backend.backend(), "steps": steps, "batch": batch, "seed": seed,
            "times_s": times, "one_cycle_epoch_end_s": epoch_end,
            "range_test_capture_s": capture, "range_test_restore_s": restore}


def summarize(result: dict) -> dict:
    """Paired ratios to the plain step of the same turn, per variant."""
    plain = result["times_s"]["plain"]
    summary = {"plain_median_ms": 1e3 * statistics.median(plain)}
    for name in VARIANTS[1:]:
        own = result["times_s"][name]
        ratios = [a / b for a, b in zip(own, plain, strict=True)]
        ratio, low, high = geometric_interval(ratios)
        summary[name] = {"median_ms": 1e3 * statistics.median(own), "ratio": ratio,
                         "ratio_95": [low, high], "median_ratio": statistics.median(ratios)}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument("--steps", type=int, default=1500, help="timed steps per variant")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.steps, args.batch, args.seed)))
        return
    rows = []
    for backend in args.backends:
        load_before = list(os.getloadavg())
        result = run_worker(Path(__file__), backend, ["--steps", str(args.steps), "--batch",
                                                      str(args.batch), "--seed", str(args.seed)])
        result.update(summarize(result), load_before=load_before,
                      load_after=list(os.getloadavg()),
                      measured=time.strftime("%Y-%m-%d %H:%M", time.gmtime()))
        rows.append(result)
        print(f"{backend}: " + "; ".join(
            f"{name} {result[name]['ratio']:.4f} ({result[name]['ratio_95'][0]:.4f} – "
            f"{result[name]['ratio_95'][1]:.4f})" for name in VARIANTS[1:]), file=sys.stderr)
    # a run for some backends replaces their rows and keeps the others' (each row has its
    # own date and load)
    previous = args.out_dir / "interleaved_overhead.json"
    if previous.exists():
        rows = merge_runs(rows, json.loads(previous.read_text())["results"],
                          key=lambda r: r["backend"])
        rows.sort(key=lambda r: BACKENDS.index(r["backend"]))
    system = system_info()
    payload = {"benchmark": "interleaved_overhead", "system": system, "model": "simple_cnn",
               "data": "fashion_mnist", "results": rows}
    lines = [
        "# OneCycle and range-test cost per step, interleaved step by step",
        "",
        f"`simple_cnn`, Fashion-MNIST batches of {args.batch}, SGD momentum 0.9. Three models "
        "of the same weights train in one process, one step each in turn (order rotating): "
        "plain `train_on_batch`; the same with `OneCycle` attached (its schedule inside the "
        "compiled step); the same with `LRRangeTest` attached to a fresh model (LR and loss-"
        "metric reset inside the compiled step, loss bookkeeping after each step); the same "
        "on a model trained one step before (its traced step is kept: LR and reset from the "
        "host before each step). "
        "Ratio = geometric mean over turns of (variant step / plain step of the same turn), "
        "95 % t-interval of the mean log ratio; the per-turn median ratio beside it. "
        "Per-epoch and once-per-test costs are timed directly (µs). Every variant syncs each "
        "step (`train_on_batch` returns NumPy logs). "
        f"{system['cpus']} CPUs ({system['cpu']}), run alone; 1-minute load average before → "
        "after each backend; a run for some backends (`--backends`) keeps the other rows. "
        f"Command: `python benchmarks/interleaved_overhead.py --steps {args.steps}`.",
        "",
        "| backend | steps | plain ms/step (median) | OneCycle ratio | 95 % interval "
        "| median ratio | range test, in step: ratio | 95 % interval | median ratio "
        "| range test, from the host: ratio | 95 % interval "
        "| OneCycle on_epoch_end µs | range test capture + restore µs | measured | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c, g, h = r["one_cycle"], r["range_test"], r.get("range_test_host")
        lines.append(
            f"| {r['backend']} | {r['steps']} | {r['plain_median_ms']:.1f} "
            f"| {c['ratio']:.4f} | {c['ratio_95'][0]:.4f} – {c['ratio_95'][1]:.4f} "
            f"| {c['median_ratio']:.4f} "
            f"| {g['ratio']:.4f} | {g['ratio_95'][0]:.4f} – {g['ratio_95'][1]:.4f} "
            f"| {g['median_ratio']:.4f} "
            + (f"| {h['ratio']:.4f} | {h['ratio_95'][0]:.4f} – {h['ratio_95'][1]:.4f} "
               if h else "| — | — ")
            + f"| {1e6 * r['one_cycle_epoch_end_s']:.0f} "
            f"| {1e6 * (r['range_test_capture_s'] + r['range_test_restore_s']):.0f} "
            f"| {r['measured']} | {r['load_before'][0]:.2f} → {r['load_after'][0]:.2f} |")
    write_results("interleaved_overhead", payload, lines, args.out_dir)


if __name__ == "__main__":
    main()
