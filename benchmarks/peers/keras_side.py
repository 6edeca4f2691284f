"""Project venv: the Keras recipes of the peers benchmark (``KERAS_BACKEND=torch``).

* ``superconverge``: the pipeline's default at ``E`` epochs, what ``superconverge run
  --epochs E --baseline-epochs 0`` does (stages prepare → range_test → bounds → one_cycle →
  evaluate; no HTML report), on the split file's data.
* ``keras_cosine``: the same pipeline's range test and automatic bounds (its own run
  directory), then the same model (BN momentum and L2 weight decay from ``bounds.json``) and
  the pipeline's optimizer (SGD, momentum 0.9, Nesterov) with
  ``keras.optimizers.schedules.CosineDecay(0, E·steps - W, warmup_target=max_lr,
  warmup_steps=W)``, ``W`` = 10% of the steps (Keras has no default warm-up length), decaying
  to 0 (``alpha = 0``, its default).
* ``keras_schedulefree`` (on the **JAX** backend, see below):
  ``keras.optimizers.ScheduleFreeAdamW`` with its defaults
  (``learning_rate 0.0025``, ``beta_1 0.9``, ``beta_2 0.999``, no weight decay) and a linear
  warm-up over 5% of the steps, like ``schedulefree_sgd``; the model with Keras' BN
  momentum 0.99 and no L2. Keras' implementation keeps the interpolated point ``y`` in the
  model's variables and has no ``eval()``; before every evaluation the evaluation weights
  ``x = (y - (1 - β1)·z) / β1`` are swapped in (``z``: its ``momentum`` slots) and the BN
  statistics recomputed at ``x`` (``superconverge.tuning.trial.precise_bn``, 50 batches),
  then ``y`` and the statistics are put back to continue training.

Why ``keras_schedulefree`` runs on JAX: in Keras 3.15.1, ``ScheduleFreeAdamW.update_step``
keeps ``momentum_old = momentum.value`` and then updates ``momentum`` in place; on the torch
backend ``momentum_old`` is the same tensor, so ``x_old`` is recovered from the *new* ``z``
and the iterates are not schedule-free's. ``tests/benchmarks/test_peers.py`` pins this
against a NumPy reference: on JAX Keras matches the reference, on torch it matches the
reference with that aliasing (on TensorFlow it matches neither; not investigated). A user of
Keras' own optimizer gets the correct algorithm on JAX, so the recipe runs there (in its own
process, after the torch recipes); its wall time is JAX's.

Wall time per epoch = training time of the ``E`` epochs (per-epoch validation included) /
``E``; the range test and bounds are reported separately.

    PYTHONPATH=. KERAS_BACKEND=torch .venv/bin/python benchmarks/peers/keras_side.py \\
        [--recipes ...] [--budgets 2 4 8] [--seeds 0 1 2] [--train-subset N] [--out-dir DIR]
"""

from __future__ import annotations

import csv
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers_common import (
    BATCH_SIZE,
    RECIPES,
    STEP_COUNT,
    STEP_REPEATS,
    STEP_WARMUP,
    VALIDATION_SPLIT,
    measure_step_time,
    run_plan,
    worker_args,
)

COSINE_WARMUP_FRACTION = 0.10
SCHEDULEFREE_WARMUP_FRACTION = 0.05
BN_RECOMPUTE_BATCHES = 50
FINDER_STAGES = ["prepare", "range_test", "bounds"]

logger = logging.getLogger("peers")


def versions() -> dict[str, str]:
    import keras

    import superconverge

    backend = keras.backend.backend()
    out = {"keras": keras.__version__, "backend": backend, "numpy": np.__version__,
           "superconverge": superconverge.__version__, "python": sys.version.split()[0]}
    if backend == "torch":
        import torch

        out["torch"] = torch.__version__
        out["torch_threads"] = str(torch.get_num_threads())
    if backend == "jax":
        import jax

        out["jax"] = jax.__version__
    return out


def dataset_splits(data: dict[str, Any], seed: int) -> Any:
    """The split file's arrays as the pipeline's ``DatasetSplits``."""
    from superconverge.data.mnist_idx import FASHION_MNIST_CLASSES
    from superconverge.data.splits import DatasetSplits, Split

    return DatasetSplits(
        name="fashion_mnist",
        train=Split(data["x_train"], data["y_train"]),
        val=Split(data["x_val"], data["y_val"]),
        test=Split(data["x_test"], data["y_test"]),
        num_classes=10,
        input_shape=tuple(data["x_train"].shape[1:]),
        class_names=FASHION_MNIST_CLASSES,
        source=f"peers split file ({data['meta']['source']})",
        seed=seed,
    )


def pipeline(recipe: str, epochs: int, seed: int, data: dict[str, Any], work: Path) -> Any:
    from superconverge.pipeline import Pipeline, RunConfig

    # superconverge runs as a user gets it, at its own default batch size; the recipes that
    # borrow its range test (keras_cosine) train at the harness' batch like the peers
    batch = {} if recipe == "superconverge" else {"batch_size": BATCH_SIZE}
    config = RunConfig(
        dataset="fashion_mnist", seed=seed, epochs=epochs, **batch,
        baseline_epochs=0, validation_split=VALIDATION_SPLIT,
        train_subset=data["train_subset"],
        out=str(work / recipe / f"E{epochs}-seed{seed}"),
    )
    return Pipeline(config, data=dataset_splits(data, seed), quiet=True)


def finder_seconds(pipe: Any) -> float:
    stages = pipe.state()["stages"]
    return sum(float(stages.get(s, {}).get("seconds", 0.0)) for s in ("range_test", "bounds"))


def history_column(path: Path, column: str) -> list[float]:
    with path.open(newline="") as handle:
        return [float(row[column]) for row in csv.DictReader(handle) if row.get(column)]


# ------------------------------------------------------------------------------ superconverge
def train_superconverge(epochs: int, seed: int, data: dict[str, Any], work: Path
                        ) -> dict[str, Any]:
    pipe = pipeline("superconverge", epochs, seed, data, work)
    summary = pipe.run(stages=[*FINDER_STAGES, "one_cycle", "evaluate"])
    metrics = summary.metrics["one_cycle"]
    bounds = pipe.bounds()
    history = pipe.directory.history("one_cycle")
    val = history_column(history, "val_accuracy")
    return {
        "test_accuracy": metrics["test_accuracy"], "test_loss": metrics["test_loss"],
        "val_accuracy": val[-1], "val_accuracy_per_epoch": val,
        "train_loss_per_epoch": history_column(history, "loss"),
        "lr": bounds["max_lr"], "lr_finder_seconds": finder_seconds(pipe),
        "train_seconds": metrics["wall_time"], "seconds_per_epoch": metrics["wall_time"] / epochs,
        "run_dir": str(pipe.run_dir), "batch_size": pipe.config.batch_size,
        "settings": {
            "command": f"superconverge run --epochs {epochs} --baseline-epochs 0 (defaults)",
            "config": pipe.config.to_dict(),
            "bounds": {k: bounds[k] for k in ("max_lr", "min_lr", "method", "confidence",
                                              "bn_momentum", "weight_decay")},
        },
    }


# ------------------------------------------------------------------------------ keras cosine
class EpochTimer:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __enter__(self) -> EpochTimer:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self._start


def train_keras_cosine(epochs: int, seed: int, data: dict[str, Any], work: Path
                       ) -> dict[str, Any]:
    import keras

    pipe = pipeline("keras_cosine", epochs, seed, data, work)
    pipe.run(stages=FINDER_STAGES)
    bounds = pipe.bounds()
    total = pipe.planned_steps()
    warmup = max(1, round(COSINE_WARMUP_FRACTION * total))
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, total - warmup, warmup_target=bounds["max_lr"], warmup_steps=warmup)
    momentum = pipe.config.momentum[0]
    model = pipe.compile(
        pipe.new_model(bn_momentum=bounds["bn_momentum"], weight_decay=bounds["weight_decay"]),
        pipe.make_optimizer(schedule, momentum))
    with EpochTimer() as timer:
        fit = model.fit(pipe._train_batches(), validation_data=pipe.data.val.as_tuple(),
                        epochs=epochs, shuffle=False, verbose=0)
    test_loss, test_acc = pipe.evaluate_model(model, *pipe.data.test.as_tuple())
    val = [float(v) for v in fit.history["val_accuracy"]]
    return {
        "test_accuracy": test_acc, "test_loss": test_loss,
        "val_accuracy": val[-1], "val_accuracy_per_epoch": val,
        "train_loss_per_epoch": [float(v) for v in fit.history["loss"]],
        "lr": bounds["max_lr"], "lr_finder_seconds": finder_seconds(pipe),
        "train_seconds": timer.seconds, "seconds_per_epoch": timer.seconds / epochs,
        "run_dir": str(pipe.run_dir),
        "settings": {
            "lr_finder": "the pipeline's range test and auto bounds (as superconverge)",
            "schedule": f"keras CosineDecay(initial_learning_rate=0, decay_steps={total - warmup},"
                        f" warmup_target=max_lr, warmup_steps={warmup} "
                        f"({COSINE_WARMUP_FRACTION:.0%} of the steps), alpha=0)",
            "optimizer": f"SGD(momentum={momentum}, nesterov={pipe.nesterov()}) "
                         "(the pipeline's make_optimizer)",
            "bounds": {k: bounds[k] for k in ("max_lr", "min_lr", "method", "confidence",
                                              "bn_momentum", "weight_decay")},
            "weight_decay": f"L2 {bounds['weight_decay']} (Caffe λ) on kernels, like the pipeline",
        },
    }


# ------------------------------------------------------------------------- keras schedule-free
def schedule_free_swap(model: Any, optimizer: Any) -> list[np.ndarray]:
    """Put the evaluation point ``x = (y - (1 - β1)·z) / β1`` into the trainable variables of
    ``model``; returns the ``y`` values to put back."""
    beta_1 = float(optimizer.beta_1)
    saved = []
    for var in model.trainable_variables:
        z = optimizer._momentums[optimizer._get_variable_index(var)]
        y = np.asarray(var.numpy())
        saved.append(y)
        var.assign((y - (1.0 - beta_1) * np.asarray(z.numpy())) / beta_1)
    return saved


def train_keras_schedulefree(epochs: int, seed: int, data: dict[str, Any], work: Path
                             ) -> dict[str, Any]:
    import keras

    from superconverge import models
    from superconverge.tuning.trial import precise_bn

    splits = dataset_splits(data, seed)
    keras.utils.set_random_seed(seed)
    steps = -(-len(splits.train) // BATCH_SIZE)
    warmup = round(SCHEDULEFREE_WARMUP_FRACTION * epochs * steps)
    optimizer = keras.optimizers.ScheduleFreeAdamW(warmup_steps=warmup)
    model = models.build("simple_cnn", splits.input_shape, splits.num_classes, seed=seed)
    models.compile_classifier(model, optimizer)
    x_val, y_val = splits.val.as_tuple()

    def at_x(fn: Any) -> Any:
        """Run ``fn()`` at the evaluation weights with their BN statistics, then restore."""
        bn_state = [np.asarray(v.numpy()) for v in model.non_trainable_variables]
        y_values = schedule_free_swap(model, optimizer)
        precise_bn(model, splits.train.x, batch_size=BATCH_SIZE,
                   num_batches=BN_RECOMPUTE_BATCHES, seed=seed)
        try:
            return fn()
        finally:
            for var, value in zip(model.trainable_variables, y_values, strict=True):
                var.assign(value)
            for var, value in zip(model.non_trainable_variables, bn_state, strict=True):
                var.assign(value)

    class ValidateAtX(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.val: list[float] = []

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.val.append(at_x(lambda: model.evaluate(x_val, y_val, batch_size=512,
                                                        verbose=0)[1]))

    validate = ValidateAtX()
    with EpochTimer() as timer:
        fit = model.fit(splits.train_batches(BATCH_SIZE, shuffle=True, seed=seed),
                        epochs=epochs, shuffle=False, verbose=0, callbacks=[validate])
    x_test, y_test = splits.test.as_tuple()
    test_loss, test_acc = at_x(lambda: model.evaluate(x_test, y_test, batch_size=512,
                                                      verbose=0)[:2])
    return {
        "test_accuracy": float(test_acc), "test_loss": float(test_loss),
        "val_accuracy": float(validate.val[-1]),
        "val_accuracy_per_epoch": [float(v) for v in validate.val],
        "train_loss_per_epoch": [float(v) for v in fit.history["loss"]],
        "lr": float(optimizer.learning_rate.numpy()), "lr_finder_seconds": 0.0,
        "train_seconds": timer.seconds, "seconds_per_epoch": timer.seconds / epochs,
        "settings": {
            "lr_finder": "none (Keras has none)",
            "optimizer": f"keras.optimizers.ScheduleFreeAdamW defaults: learning_rate "
                         f"{float(optimizer.learning_rate.numpy())}, beta_1 {optimizer.beta_1},"
                         f" beta_2 {optimizer.beta_2}, epsilon {optimizer.epsilon}, "
                         "weight_decay None",
            "warmup_steps": f"{warmup} ({SCHEDULEFREE_WARMUP_FRACTION:.0%} of the steps, as "
                            "schedulefree_sgd; Keras' default is 0)",
            "model": "simple_cnn with Keras defaults of this library: BN momentum 0.99, no L2",
            "evaluation": "x = (y - (1-beta_1) z) / beta_1 swapped in, precise_bn over "
                          f"{BN_RECOMPUTE_BATCHES} training batches, then y restored",
        },
    }


def keras_step_times(data: dict[str, Any]) -> list[float]:
    """Seconds of ``STEP_REPEATS`` × ``STEP_COUNT`` training steps of ``model.fit`` (the
    pipeline's input path, ``ArrayBatches``), SGD momentum 0.9."""
    import keras

    from superconverge import models

    splits = dataset_splits(data, 0)
    keras.utils.set_random_seed(0)
    model = models.build("simple_cnn", splits.input_shape, splits.num_classes, seed=0)
    models.compile_classifier(model, keras.optimizers.SGD(0.01, momentum=0.9))
    batches = splits.train_batches(BATCH_SIZE, shuffle=True, seed=0)
    steps = min(STEP_COUNT, len(batches))
    model.fit(batches, epochs=1, steps_per_epoch=min(STEP_WARMUP, steps), shuffle=False,
              verbose=0)
    out = []
    for _ in range(STEP_REPEATS):
        done = 0
        started = time.perf_counter()
        while done < STEP_COUNT:  # fit runs at most one pass over the batches
            n = min(STEP_COUNT - done, len(batches))
            model.fit(batches, epochs=1, steps_per_epoch=n, shuffle=False, verbose=0)
            done += n
        out.append(time.perf_counter() - started)
    return out


TRAINERS = {"superconverge": train_superconverge, "keras_cosine": train_keras_cosine,
            "keras_schedulefree": train_keras_schedulefree}


def recipe_backend(recipe: str) -> str:
    return RECIPES[recipe].get("backend", "torch")


def run_elsewhere(args: Any, recipes: list[str], backend: str) -> None:
    """The recipes of another Keras backend, in a child process (one at a time)."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--recipes", *recipes,
            "--budgets", *map(str, args.budgets), "--seeds", *map(str, args.seeds),
            "--split", args.split, "--out-dir", args.out_dir, "--work-dir", args.work_dir]
    if args.train_subset is not None:
        argv += ["--train-subset", str(args.train_subset)]
    subprocess.run(argv, check=True, env={**os.environ, "KERAS_BACKEND": backend})


def main(argv: list[str] | None = None) -> int:
    import keras

    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    args = worker_args("project", argv, description=__doc__)
    backend = keras.backend.backend()
    requested = list(args.recipes)
    here = [r for r in requested if recipe_backend(r) == backend]
    work = Path(args.work_dir)
    if here:
        info = versions()
        if backend == "torch":
            measure_step_time(args, "keras", keras_step_times, info)
        args.recipes = here
        run_plan(args, lambda recipe, e, s, data: TRAINERS[recipe](e, s, data, work), info)
    for other in sorted({recipe_backend(r) for r in requested} - {backend}):
        run_elsewhere(args, [r for r in requested if recipe_backend(r) == other], other)
    return 0


if __name__ == "__main__":
    sys.exit(main())
