"""Step-time cost of the OneCycle callback against a plain ``model.fit``, on each backend.

Same model (``simple_cnn``), same data (Fashion-MNIST 28×28 images), same batch size and steps.
Each backend runs in its own process. Per backend, ``--rounds`` rounds, each one ``fit`` call of
``1 + --repeats`` epochs per variant (plain, then with ``OneCycle``; the order alternates
between rounds); each epoch is timed by a callback and the first epoch of every call, which
includes tracing and compilation, is dropped. (With OneCycle every ``fit`` call traces a
fresh train step, once, on TensorFlow and JAX: a compile per call, not a per-step cost.)

The ratio: per round, median(OneCycle epoch) / median(plain epoch) of that round (the two
variants ran back to back, so slow drifts of the machine cancel); reported as the geometric
mean over rounds with a 95 % t-interval of the mean log ratio. Run it alone on the machine.

    python benchmarks/overhead.py [--backends torch tensorflow jax] [--steps 40] [--repeats 5]
        [--rounds 10] [--per-step]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import (
    BACKENDS,
    RESULTS,
    geometric_interval,
    run_worker,
    stats,
    system_info,
    write_results,
)


def _worker(steps: int, batch: int, repeats: int, rounds: int, seed: int,
            per_step: bool) -> dict:
    import statistics

    import keras

    import superconverge as sc
    from superconverge import data, models

    splits = data.load("fashion_mnist", seed=seed, train_subset=steps * batch)
    x, y = splits.train.as_tuple()

    class EpochTimer(keras.callbacks.Callback):
        """Epoch times, and with ``per_step`` the time between consecutive batch ends (a
        batch-level hook: Keras then runs every step's callbacks synchronously, in both
        variants alike)."""

        def __init__(self, per_step: bool) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self.steps: list[list[float]] = []
            if per_step:
                self.on_train_batch_end = self._batch_end

        def on_epoch_begin(self, epoch, logs=None):
            self._start = self._last = time.perf_counter()
            self.steps.append([])

        def _batch_end(self, batch, logs=None):
            now = time.perf_counter()
            self.steps[-1].append(now - self._last)
            self._last = now

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    def timed_fit(with_cycle: bool) -> tuple[list[float], list[float]]:
        keras.utils.set_random_seed(seed)
        model = models.build("simple_cnn", splits.input_shape, splits.num_classes)
        model.compile(keras.optimizers.SGD(0.01, momentum=0.9),
                      "sparse_categorical_crossentropy", metrics=["accuracy"])
        timer = EpochTimer(per_step)
        callbacks = [timer] + ([sc.OneCycle(0.1, epochs=1 + repeats)] if with_cycle else [])
        model.fit(x, y, batch_size=batch, epochs=1 + repeats, verbose=0, shuffle=False,
                  callbacks=callbacks)
        # the first epoch (tracing) dropped; per round, the median step of the other epochs
        timed_steps = [t for epoch in timer.steps[1:] for t in epoch]
        return timer.seconds[1:], timed_steps

    plain: list[float] = []
    cycle: list[float] = []
    plain_step: list[float] = []
    cycle_step: list[float] = []
    for i in range(rounds):
        order = [(False, plain, plain_step), (True, cycle, cycle_step)]
        for with_cycle, sink, step_sink in order if i % 2 == 0 else order[::-1]:
            epochs, step_times = timed_fit(with_cycle)
            sink.extend(epochs)
            if step_times:
                step_sink.append(statistics.median(step_times))
    return {"backend": keras.backend.backend(), "steps": steps, "batch": batch,
            "per_step": per_step, "plain_s": plain, "one_cycle_s": cycle,
            "plain_median_step_s": plain_step, "one_cycle_median_step_s": cycle_step}


def round_ratios(plain: list[float], cycle: list[float], repeats: int) -> list[float]:
    """Per round: median OneCycle epoch / median plain epoch (``repeats`` epochs each)."""
    import statistics

    return [statistics.median(cycle[i:i + repeats]) / statistics.median(plain[i:i + repeats])
            for i in range(0, min(len(plain), len(cycle)), repeats)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs per fit call")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--per-step", action="store_true",
                        help="also time every step (a batch-level timer in both variants): "
                             "the ratio of the rounds' median step times, less noisy")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.steps, args.batch, args.repeats, args.rounds, args.seed,
                                 args.per_step)))
        return
    import os

    rows = []
    for backend in args.backends:
        load = list(os.getloadavg())
        result = run_worker(Path(__file__), backend,
                            ["--steps", str(args.steps), "--batch", str(args.batch),
                             "--repeats", str(args.repeats), "--rounds", str(args.rounds),
                             "--seed", str(args.seed)] + (["--per-step"] if args.per_step else []))
        plain, cycle = stats(result["plain_s"]), stats(result["one_cycle_s"])
        per_round = round_ratios(result["plain_s"], result["one_cycle_s"], args.repeats)
        ratio, low, high = geometric_interval(per_round)
        result.update(plain=plain, one_cycle=cycle, round_ratios=per_round, ratio=ratio,
                      ratio_95=[low, high], rounds=args.rounds, repeats=args.repeats,
                      seed=args.seed, load_average=load,
                      measured=time.strftime("%Y-%m-%d %H:%M", time.gmtime()))
        if args.per_step:
            step_ratios = [c / p for c, p in zip(result["one_cycle_median_step_s"],
                                                 result["plain_median_step_s"], strict=True)]
            s_ratio, s_low, s_high = geometric_interval(step_ratios)
            result.update(step_round_ratios=step_ratios, step_ratio=s_ratio,
                          step_ratio_95=[s_low, s_high])
        rows.append(result)
        print(f"{backend}: ratio {result['ratio']:.4f} ({low:.4f} – {high:.4f})"
              + (f"; median step {result['step_ratio']:.4f} ({result['step_ratio_95'][0]:.4f}"
                 f" – {result['step_ratio_95'][1]:.4f})" if args.per_step else ""),
              file=sys.stderr)
    # a run for some backends replaces their rows and keeps the others' (each row has its
    # own settings and load)
    previous = RESULTS / "overhead.json"
    if previous.exists():
        measured = {(r["backend"], r.get("per_step", False)) for r in rows}
        kept = [r for r in json.loads(previous.read_text())["results"]
                if (r["backend"], r.get("per_step", False)) not in measured and "rounds" in r]
        rows = sorted(rows + kept, key=lambda r: (BACKENDS.index(r["backend"]),
                                                  r.get("per_step", False)))
    payload = {"benchmark": "overhead", "system": system_info(),
               "model": "simple_cnn", "data": "fashion_mnist", "results": rows}
    lines = [
        "# OneCycle callback overhead",
        "",
        "`simple_cnn` on Fashion-MNIST; per backend, rounds of one `fit` call per variant "
        "(order alternating), each of 1 + `repeats` epochs of `steps` batches, the first "
        "(compiling) epoch dropped. Ratio = geometric mean over rounds of median epoch time "
        "with OneCycle / median without in that round, same process; 95 % interval from the "
        f"rounds' log ratios. {payload['system']['cpus']} CPUs ({payload['system']['cpu']}); "
        "run alone on the machine (1-minute load average recorded with each row in the last "
        "column). Rows 'per step' (`--per-step`) time every step with a batch-level callback "
        "in both variants (Keras then runs every step's callbacks synchronously, so their "
        "plain fit is not quite a user's); their last columns give the ratio of each round's "
        "median step time, which an occasional slow step does not move.",
        "",
        "| backend | timer | steps × batch | rounds × epochs | plain fit ms/step (mean ± std) "
        "| with OneCycle ms/step (mean ± std) | ratio | 95 % interval | median-step ratio "
        "| 95 % interval | measured | load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s = r["steps"]
        step = (f"| {r['step_ratio']:.4f} | {r['step_ratio_95'][0]:.4f} – "
                f"{r['step_ratio_95'][1]:.4f} " if r.get("per_step") else "| — | — ")
        lines.append(
            f"| {r['backend']} | {'per step' if r.get('per_step') else 'per epoch'} "
            f"| {s} × {r['batch']} | {r['rounds']} × {r['repeats']} "
            f"| {1e3 * r['plain']['mean'] / s:.1f} ± {1e3 * r['plain']['std'] / s:.1f} "
            f"| {1e3 * r['one_cycle']['mean'] / s:.1f} ± {1e3 * r['one_cycle']['std'] / s:.1f} "
            f"| {r['ratio']:.4f} | {r['ratio_95'][0]:.4f} – {r['ratio_95'][1]:.4f} "
            + step + f"| {r['measured']} | {r['load_average'][0]:.2f} |"
        )
    write_results("overhead", payload, lines, RESULTS)


if __name__ == "__main__":
    main()
