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
        [--rounds 10]
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


def _worker(steps: int, batch: int, repeats: int, rounds: int, seed: int) -> dict:
    import keras

    import superconverge as sc
    from superconverge import data, models

    splits = data.load("fashion_mnist", seed=seed, train_subset=steps * batch)
    x, y = splits.train.as_tuple()

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    def timed_fit(with_cycle: bool) -> list[float]:
        keras.utils.set_random_seed(seed)
        model = models.build("simple_cnn", splits.input_shape, splits.num_classes)
        model.compile(keras.optimizers.SGD(0.01, momentum=0.9),
                      "sparse_categorical_crossentropy", metrics=["accuracy"])
        timer = EpochTimer()
        callbacks = [timer] + ([sc.OneCycle(0.1, epochs=1 + repeats)] if with_cycle else [])
        model.fit(x, y, batch_size=batch, epochs=1 + repeats, verbose=0, shuffle=False,
                  callbacks=callbacks)
        return timer.seconds[1:]

    plain: list[float] = []
    cycle: list[float] = []
    for i in range(rounds):
        order = [(False, plain), (True, cycle)]
        for with_cycle, sink in order if i % 2 == 0 else order[::-1]:
            sink.extend(timed_fit(with_cycle))
    return {"backend": keras.backend.backend(), "steps": steps, "batch": batch,
            "plain_s": plain, "one_cycle_s": cycle}


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
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.steps, args.batch, args.repeats, args.rounds, args.seed)))
        return
    import os

    rows = []
    for backend in args.backends:
        load = list(os.getloadavg())
        result = run_worker(Path(__file__), backend,
                            ["--steps", str(args.steps), "--batch", str(args.batch),
                             "--repeats", str(args.repeats), "--rounds", str(args.rounds),
                             "--seed", str(args.seed)])
        plain, cycle = stats(result["plain_s"]), stats(result["one_cycle_s"])
        per_round = round_ratios(result["plain_s"], result["one_cycle_s"], args.repeats)
        ratio, low, high = geometric_interval(per_round)
        result.update(plain=plain, one_cycle=cycle, round_ratios=per_round, ratio=ratio,
                      ratio_95=[low, high], rounds=args.rounds, repeats=args.repeats,
                      seed=args.seed, load_average=load,
                      measured=time.strftime("%Y-%m-%d %H:%M", time.gmtime()))
        rows.append(result)
        print(f"{backend}: ratio {result['ratio']:.4f}", file=sys.stderr)
    # a run for some backends replaces their rows and keeps the others' (each row has its
    # own settings and load)
    previous = RESULTS / "overhead.json"
    if previous.exists():
        measured = {r["backend"] for r in rows}
        kept = [r for r in json.loads(previous.read_text())["results"]
                if r["backend"] not in measured and "rounds" in r]
        rows = sorted(rows + kept, key=lambda r: BACKENDS.index(r["backend"]))
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
        "column).",
        "",
        "| backend | steps × batch | rounds × epochs | plain fit ms/step (mean ± std) "
        "| with OneCycle ms/step (mean ± std) | ratio | 95 % interval | measured | load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s = r["steps"]
        lines.append(
            f"| {r['backend']} | {s} × {r['batch']} | {r['rounds']} × {r['repeats']} "
            f"| {1e3 * r['plain']['mean'] / s:.1f} ± {1e3 * r['plain']['std'] / s:.1f} "
            f"| {1e3 * r['one_cycle']['mean'] / s:.1f} ± {1e3 * r['one_cycle']['std'] / s:.1f} "
            f"| {r['ratio']:.4f} | {r['ratio_95'][0]:.4f} – {r['ratio_95'][1]:.4f} "
            f"| {r['measured']} | {r['load_average'][0]:.2f} |"
        )
    write_results("overhead", payload, lines, RESULTS)


if __name__ == "__main__":
    main()
