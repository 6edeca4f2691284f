"""Where the time of one ``fit`` step goes (issue 16, part 1).

``simple_cnn`` on Fashion-MNIST batches (batch ``--batch``), SGD momentum 0.9, compiled as the
pipeline compiles it (accuracy metric), after a warm-up epoch. Three workloads per backend:
plain ``model.fit``, ``fit`` with ``OneCycle``, and the LR range test (``lr_range_test``,
which runs ``fit`` with its own callback).

* **torch**: every training step is split by ``torch.profiler.record_function`` labels put
  around Keras' own pieces of ``train_step``: the forward pass (``model.call``), the loss
  (``model._compute_loss``), the backward pass (``Tensor.backward``), the optimizer update
  (``optimizer.apply``) and the metric updates (``model.compute_metrics``). Each label's time is
  its inclusive CPU wall time per step (``cpu_time_total`` / steps); *train_step, rest* is
  ``train_step`` minus those five (zero-grad, loss tracker, Python glue); *outside train_step*
  is the step's wall time minus ``train_step`` (the epoch iterator's batch slicing and
  host→tensor conversion, callbacks, Keras' loop). The profiler itself adds a little to every
  label; the wall time per step is measured in a separate, unprofiled ``fit`` of the same model.
* **jax**: the step is one compiled XLA program, so it is split in two: the compiled
  ``train_step`` called in a loop on device arrays (``block_until_ready`` each step), against
  ``fit``'s wall time per step; the difference is data feeding, callbacks and Keras' loop.

Run it alone on the machine (it records the load average):

    python benchmarks/step_profile.py [--backends torch jax] [--steps 60] [--batch 128]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from common import run_worker, system_info, write_results

NAME = "step_profile"
WORKLOADS = ("fit", "fit_one_cycle", "range_test")
TORCH_LABELS = ("forward", "loss", "backward", "optimizer", "metrics")


def _setup(steps: int, batch: int, seed: int) -> tuple[Any, Any, Any]:
    import keras

    from superconverge import data

    splits = data.load("fashion_mnist", seed=seed, train_subset=steps * batch)
    x, y = splits.train.as_tuple()
    keras.utils.set_random_seed(seed)
    return splits, x, y


def _model(splits: Any, seed: int) -> Any:
    import keras

    from superconverge import models
    from superconverge.models.compile import compile_classifier

    keras.utils.set_random_seed(seed)
    model = models.build("simple_cnn", splits.input_shape, splits.num_classes)
    return compile_classifier(model, keras.optimizers.SGD(0.01, momentum=0.9))


def _run(workload: str, model: Any, x: Any, y: Any, batch: int, steps: int) -> None:
    import superconverge as sc

    if workload == "range_test":
        sc.lr_range_test(model, x, y, batch_size=batch, steps=steps, diverge=None)
        return
    callbacks = [sc.OneCycle(0.1, epochs=1)] if workload == "fit_one_cycle" else []
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False, callbacks=callbacks)


def _wall_per_step(workload: str, model: Any, x: Any, y: Any, batch: int, steps: int,
                   repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _run(workload, model, x, y, batch, steps)
        times.append((time.perf_counter() - start) / steps)
    return times


def _labelled_backward(original: Any, record_function: Any) -> Any:
    def backward(self: Any, *args: Any, **kwargs: Any) -> Any:
        with record_function("backward"):
            return original(self, *args, **kwargs)

    return backward


def _torch_worker(steps: int, batch: int, seed: int, repeats: int) -> dict[str, Any]:
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    splits, x, y = _setup(steps, batch, seed)
    original_backward = torch.Tensor.backward
    rows = {}
    for workload in WORKLOADS:
        model = _model(splits, seed)
        _run(workload, model, x, y, batch, steps)  # warm-up: builds the train function
        wall = _wall_per_step(workload, model, x, y, batch, steps, repeats)

        def wrap(obj: Any, attr: str, label: str) -> None:
            original = getattr(obj, attr)

            def labelled(*args: Any, **kwargs: Any) -> Any:
                with record_function(label):
                    return original(*args, **kwargs)

            setattr(obj, attr, labelled)

        wrap(model, "call", "forward")
        wrap(model, "_compute_loss", "loss")
        wrap(model, "compute_metrics", "metrics")
        wrap(model, "train_step", "train_step")
        wrap(model.optimizer, "apply", "optimizer")
        torch.Tensor.backward = _labelled_backward(original_backward, record_function)
        try:
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                start = time.perf_counter()
                _run(workload, model, x, y, batch, steps)
                profiled_s = (time.perf_counter() - start) / steps
        finally:
            torch.Tensor.backward = original_backward
        totals = {e.key: e.cpu_time_total / 1e6 / steps for e in prof.key_averages()
                  if e.key in (*TORCH_LABELS, "train_step")}
        parts = {label: totals.get(label, 0.0) for label in TORCH_LABELS}
        parts["train_step, rest"] = max(totals.get("train_step", 0.0) - sum(parts.values()), 0.0)
        parts["outside train_step"] = max(profiled_s - totals.get("train_step", 0.0), 0.0)
        top = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:8]
        rows[workload] = {"wall_s_per_step": wall, "profiled_s_per_step": profiled_s,
                          "parts_s_per_step": parts,
                          "top_ops": [{"op": e.key, "self_s_per_step":
                                       e.self_cpu_time_total / 1e6 / steps} for e in top]}
    return {"backend": "torch", "torch": torch.__version__, "threads": torch.get_num_threads(),
            "workloads": rows}


def _jax_worker(steps: int, batch: int, seed: int, repeats: int) -> dict[str, Any]:
    import statistics

    import jax
    import numpy as np

    splits, x, y = _setup(steps, batch, seed)
    rows = {}
    for workload in WORKLOADS:
        model = _model(splits, seed)
        _run(workload, model, x, y, batch, steps)
        wall = _wall_per_step(workload, model, x, y, batch, steps, repeats)
        rows[workload] = {"wall_s_per_step": wall}
    # the compiled step alone, on arrays already on the device, state threaded through
    model = _model(splits, seed)
    _run("fit", model, x, y, batch, steps)
    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in model.optimizer.variables],
        [v.value for v in model.metrics_variables],
    )
    batches = [(jax.device_put(x[i * batch:(i + 1) * batch]),
                jax.device_put(np.asarray(y[i * batch:(i + 1) * batch])))
               for i in range(steps)]
    step_fn = jax.jit(model.train_step)
    _, state = step_fn(state, batches[0])
    jax.block_until_ready(state)
    compiled = []
    for _ in range(repeats):
        start = time.perf_counter()
        for data in batches:
            _, state = step_fn(state, data)
            jax.block_until_ready(state)
        compiled.append((time.perf_counter() - start) / steps)
    fit_s = statistics.median(rows["fit"]["wall_s_per_step"])
    rows["fit"]["compiled_step_s"] = compiled
    rows["fit"]["outside_compiled_step_s"] = max(fit_s - statistics.median(compiled), 0.0)
    return {"backend": "jax", "jax": jax.__version__, "workloads": rows}


def _ms(seconds: float) -> str:
    return f"{1000 * seconds:.1f}"


def render(payload: dict[str, Any]) -> list[str]:
    import statistics

    s = payload["settings"]
    lines = [
        "# Where one `fit` step's time goes",
        "",
        f"`simple_cnn`, Fashion-MNIST, batch {s['batch']}, SGD momentum 0.9 with the accuracy "
        f"metric; {s['steps']} steps per workload after a warm-up, wall time = median of "
        f"{s['repeats']} unprofiled runs. Load average at the start "
        f"{payload['system']['load_average']}. How to read it: `benchmarks/step_profile.py`.",
    ]
    for r in payload["results"]:
        lines += ["", f"## {r['backend']}", ""]
        if r["backend"] == "torch":
            labels = [*TORCH_LABELS, "train_step, rest", "outside train_step"]
            lines += ["Parts in ms per step of the profiled run (share of its step time); the "
                      "profiler slows the step, so the unprofiled wall time is given too.", "",
                      "| workload | wall ms/step | profiled ms/step | " + " | ".join(labels)
                      + " |", "|---|---|---|" + "---|" * len(labels)]
            for workload, w in r["workloads"].items():
                wall = statistics.median(w["wall_s_per_step"])
                prof = w["profiled_s_per_step"]
                cells = [f"{_ms(v)} ({100 * v / prof:.0f}%)"
                         for v in (w["parts_s_per_step"][k] for k in labels)]
                lines.append(f"| {workload} | {_ms(wall)} | {_ms(prof)} | "
                             + " | ".join(cells) + " |")
            ops = r["workloads"]["fit"]["top_ops"]
            lines += ["", "Largest operators of plain `fit` (self CPU time per step): "
                      + ", ".join(f"`{o['op']}` {_ms(o['self_s_per_step'])} ms" for o in ops)
                      + "."]
        else:
            lines += ["| workload | wall ms/step |", "|---|---|"]
            for workload, w in r["workloads"].items():
                lines.append(f"| {workload} | {_ms(statistics.median(w['wall_s_per_step']))} |")
            fit = r["workloads"]["fit"]
            lines += ["", f"The compiled step alone (device arrays, `block_until_ready`): "
                      f"{_ms(statistics.median(fit['compiled_step_s']))} ms; outside it in "
                      f"`fit` (data feeding, callbacks, loop): "
                      f"{_ms(fit['outside_compiled_step_s'])} ms per step."]
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--backends", nargs="+", default=["torch", "jax"], choices=["torch", "jax"])
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default=NAME)
    args = p.parse_args(argv)
    if args.worker:
        fn = _torch_worker if args.worker == "torch" else _jax_worker
        print(json.dumps(fn(args.steps, args.batch, args.seed, args.repeats)))
        return 0
    system = system_info()
    results = []
    for backend in args.backends:
        results.append(run_worker(Path(__file__), backend, [
            backend, "--steps", str(args.steps), "--batch", str(args.batch),
            "--repeats", str(args.repeats), "--seed", str(args.seed)]))
        print(f"{backend} done", file=sys.stderr)
    payload = {"benchmark": NAME, "system": system,
               "settings": {"steps": args.steps, "batch": args.batch, "repeats": args.repeats,
                            "seed": args.seed}, "results": results}
    write_results(args.name, payload, render(payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
