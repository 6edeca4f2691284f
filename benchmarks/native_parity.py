"""Keras on PyTorch against a plain PyTorch loop, same net, same data, one process (issue 16).

The net is ``simple_cnn`` (Keras, ``superconverge.models``) and its layer-for-layer PyTorch
copy (``benchmarks/peers/torch_net.py``, same parameter count), both trained with SGD momentum
0.9 and cross-entropy on the same Fashion-MNIST batches of 128, in the project's environment
(torch as pinned). Rounds alternate the variants back to back: each round times ``--steps``
training steps of every variant after ``--warmup`` untimed ones; the ratio of a round is
(Keras step time) / (PyTorch step time), reported as the geometric mean over rounds with a
95 % t-interval. Variants of the Keras side:

* ``fit``: ``model.fit`` on in-memory arrays (what the pipeline does), with the accuracy metric;
* ``fit_no_metrics``: the same without metrics;
* ``fit_jit``: ``compile(jit_compile=True)`` (Keras compiles the torch step with
  ``torch.compile``), if it compiles here;
* ``fit_fused_bn``: ``fit`` with the BN layers on PyTorch's fused kernel
  (``superconverge.models.fuse_batch_norm``, what the pipeline does by default).

Run it alone on the machine; it records the load average.

    python benchmarks/native_parity.py [--rounds 8] [--steps 40] [--variants fit fit_no_metrics]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

os.environ["KERAS_BACKEND"] = "torch"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "peers"))

from common import geometric_interval, system_info, write_results  # noqa: E402

NAME = "native_parity"
BATCH = 128


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--steps", type=int, default=40, help="timed steps per variant and round")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--variants", nargs="+", default=["fit", "fit_no_metrics"],
                   choices=["fit", "fit_no_metrics", "fit_jit", "fit_fused_bn"])
    p.add_argument("--out-dir", default=str(HERE / "results"))
    p.add_argument("--train-subset", type=int, default=None,
                   help="images to take the batches from (default: steps × batch)")
    return p


def keras_stepper(variant: str, x: Any, y: Any, steps: int) -> Any:
    """A function that trains ``steps`` steps with ``model.fit`` and returns the seconds."""
    import keras

    from superconverge import models

    keras.utils.set_random_seed(0)
    model = models.build("simple_cnn", x.shape[1:], 10)
    model.compile(keras.optimizers.SGD(0.05, momentum=0.9), "sparse_categorical_crossentropy",
                  metrics=[] if variant == "fit_no_metrics" else ["accuracy"],
                  jit_compile=variant == "fit_jit")
    if variant == "fit_fused_bn":
        models.fuse_batch_norm(model)
    n = steps * BATCH

    def run() -> float:
        started = time.perf_counter()
        model.fit(x[:n], y[:n], batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        return time.perf_counter() - started

    return run


def torch_stepper(x: Any, y: Any, steps: int) -> Any:
    import torch
    from torch_net import SimpleCNN

    torch.manual_seed(0)
    net = SimpleCNN()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    yt = torch.from_numpy(y.astype("int64"))

    def run() -> float:
        net.train()
        started = time.perf_counter()
        for i in range(steps):
            xb, yb = xt[i * BATCH:(i + 1) * BATCH], yt[i * BATCH:(i + 1) * BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(net(xb), yb)
            loss.backward()
            optimizer.step()
        return time.perf_counter() - started

    return run


def main(argv: list[str] | None = None) -> None:
    import torch

    from superconverge import data

    args = build_parser().parse_args(argv)
    n = args.train_subset or args.steps * BATCH
    splits = data.load("fashion_mnist", seed=0, train_subset=n)
    x, y = splits.train.as_tuple()
    runners = {"pytorch": torch_stepper(x, y, args.steps)}
    warm = {"pytorch": torch_stepper(x, y, args.warmup)}
    for variant in args.variants:
        runners[variant] = keras_stepper(variant, x, y, args.steps)
        warm[variant] = runners[variant]
    for run in warm.values():  # tracing, compilation, allocator warm-up
        run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    for index in range(args.rounds):
        order = list(runners) if index % 2 == 0 else list(runners)[::-1]
        for name in order:
            times[name].append(runners[name]() / args.steps)
    rows = []
    for variant in args.variants:
        ratios = [k / t for k, t in zip(times[variant], times["pytorch"])]
        ratio, low, high = geometric_interval(ratios)
        rows.append({"variant": variant, "keras_ms": 1e3 * statistics.median(times[variant]),
                     "pytorch_ms": 1e3 * statistics.median(times["pytorch"]),
                     "ratio": ratio, "ratio_95": [low, high], "round_ratios": ratios})
    payload = {"benchmark": NAME, "system": system_info(), "torch": torch.__version__,
               "threads": torch.get_num_threads(), "rounds": args.rounds, "steps": args.steps,
               "batch": BATCH, "times_s_per_step": times, "results": rows}
    lines = [
        "# Keras on PyTorch vs a plain PyTorch loop (same net, one process)",
        "",
        f"`simple_cnn` and its PyTorch copy, SGD momentum 0.9, batch {BATCH}, {args.steps} "
        f"timed steps per variant per round, {args.rounds} rounds alternating; torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads; load average "
        f"{payload['system']['load_average']}. Ratio = geometric mean over rounds of Keras "
        "step time / PyTorch step time (95 % t-interval).",
        "",
        "| Keras variant | Keras ms/step (median) | PyTorch ms/step (median) | ratio | 95 % |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['keras_ms']:.1f} | {r['pytorch_ms']:.1f} | "
                     f"{r['ratio']:.3f} | {r['ratio_95'][0]:.3f} – {r['ratio_95'][1]:.3f} |")
    write_results(NAME, payload, lines, out_dir=Path(args.out_dir))
    for line in lines[-len(rows):]:
        print(line)


if __name__ == "__main__":
    main()
