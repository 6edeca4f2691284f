"""Reproduce Smith & Topin's super-convergence experiments on CIFAR-10 with ResNet-56.

L. N. Smith and N. Topin, "Super-Convergence: Very Fast Training of Neural Networks Using
Large Learning Rates", arXiv:1708.07120. Written for users who have CIFAR-10 (the
``cifar-10-batches-py`` folder) and a GPU; on a CPU use ``--smoke``.

Experiments (``--experiments``, default all)
--------------------------------------------
* ``range_test`` (Fig. 2b): a *linear* LR range test from 0 to 3 over ``--range-steps``
  iterations without a divergence stop, recording the training loss and the test accuracy on
  a fixed sample of test batches, as the paper plots it. Reported: the LR where that accuracy
  peaks, the accuracy at LR 3, and the library's automatic bounds (``auto``, from the training
  loss only). ``lr_range_test`` needs a start above 0, so the sweep starts at ``3 / steps``,
  the first non-zero LR of a 0 → 3 linear sweep.
* ``fig1a``: one cycle 0.1 → 3.0 → 0.1 (Caffe's ``triangular`` policy, stepsize 5,000, 10,000
  iterations, momentum 0.9 constant, batch-norm moving-average fraction 0.95) against
  multistep LR 0.35, ×0.1 at 50,000 and 70,000 iterations, 80,000 iterations, fraction 0.999.
* ``bn`` (the batch-norm momentum finding): the same one cycle with the moving-average
  fraction at 0.999 (the multistep value) and at the value ``superconverge`` recommends for
  this length (``recommended_bn_momentum``), against 0.95.
* ``table1`` (Table 1's reduced-training-set rows): both schedules on the first 40k, 30k,
  20k and 10k images of a seeded shuffle of the training set (same iteration counts).

The one-cycle arm runs through ``superconverge.OneCycle`` with a schedule given as data
(``OneCycleSchedule.from_phases``: two linear phases, no annihilation, no momentum cycling),
so it is the paper's policy exactly, driven by the library's in-graph hook; the multistep
arm uses Keras' ``PiecewiseConstantDecay``. Test accuracy is evaluated on the whole test set
at ``--eval-points`` evenly spaced iterations (the paper's curves are test accuracy too) and at
the end; nothing is chosen from it.

Paper settings used, and where they come from
---------------------------------------------
From the authors' Caffe files and released logs (github.com/lnsmith54/super-convergence:
``README.md``, ``architectures/Resnet56Cifar.prototxt``, ``Results/*``, commit 5c5632e):
ResNet-56; batch 125 per GPU on 8 GPUs = **1,000** per iteration (the logs start "Using GPUs
0, …, 7"); SGD momentum 0.9; weight decay 1e-4 (Caffe adds λ·w to the gradient, which is what
``models.build(weight_decay=λ)`` does); the schedules above; moving-average fraction 0.95 in
the one-cycle logs and 0.999 in the multistep logs (Caffe's fraction is Keras' BN momentum);
the reduced-set runs keep 10,000 / 80,000 iterations (``clr3SS5kTr40kTab1``,
``lr35Tr40kTab1``); Fig. 2b's range tests are linear 0 → 3 over 5k, 20k and 100k iterations
(default here 20k); training transform: mirror only (``crop_size: 32`` on 32×32 images crops
nothing) after mean-image subtraction.

Our assumptions and deviations (marked ``assumption`` in the JSON): input scaling is
per-channel standardisation with training statistics instead of mean-image subtraction;
``resnet56`` is He et al.'s option A (strided identity + zero channels, block convs at the
new width), whereas the prototxt's down-sampling blocks keep the old width, use a 3×3/2
average pool as the shortcut and concatenate zeros after the sum; a single run per arm by
default (``--seeds``); Keras' initialisers and batch norm epsilon instead of Caffe's.

Reference numbers
-----------------
``PAPER_RESULTS`` below holds the final test accuracy ("Test net output #0: accuracy" at the
last iteration) of each released log, with the file name. These are the runs behind Fig. 1a
and Table 1 according to the repository's README and file names. The printed Table 1 of the
paper was not transcribed here; where it differs from the logs (its multistep rows may come
from other runs), the logs are what this script compares against. The bn experiment has no
released log; its reference is empty.

Smoke mode (``--smoke``): writes a tiny generated CIFAR-format data set (random images, 200
training and 40 test examples), scales every count down (``resnet20`` unless ``--model`` says
otherwise, batch 16, 6 one-cycle and 8 multistep iterations, range test 10 steps, Table 1 rows
50k and 10k only, i.e. all and a fifth of the data) and runs every experiment end to end; the
accuracies mean nothing.

    python benchmarks/reproduce_super_convergence.py --data ~/data/cifar-10-batches-py
    python benchmarks/reproduce_super_convergence.py --data DIR --experiments fig1a bn
    python benchmarks/reproduce_super_convergence.py --smoke --out-dir /tmp/repro

Each finished arm is saved under ``--work-dir`` and skipped when the script is run again with
the same settings (an interrupted arm starts over).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import pickle
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from common import RESULTS, system_info

HERE = Path(__file__).resolve().parent
NAME = "reproduce_super_convergence"
DEFAULT_WORK = HERE.parent / "runs" / NAME
EXPERIMENTS = ("range_test", "fig1a", "bn", "table1")
FULL_TRAIN = 50000  # CIFAR-10's training set; Table 1's sizes are parts of it

LOG_SOURCE = ("github.com/lnsmith54/super-convergence, commit "
              "5c5632ed7dfed5daba3447f1f1dff6589b772cea")
# final test accuracy (%) at the last iteration of each released log (see the docstring)
PAPER_RESULTS: list[dict[str, Any]] = [
    {"experiment": "fig1a", "train_size": 50000, "policy": "one_cycle", "bn": 0.95,
     "iterations": 10000, "accuracy": 92.44, "source": "Results/clr3SS5kFig1a (Fig. 1a)"},
    {"experiment": "fig1a", "train_size": 50000, "policy": "multistep", "bn": 0.999,
     "iterations": 80000, "accuracy": 90.32, "source": "Results/lr35Fig1a (Fig. 1a)"},
    {"experiment": "table1", "train_size": 40000, "policy": "one_cycle", "bn": 0.95,
     "iterations": 10000, "accuracy": 91.10, "source": "Results/clr3SS5kTr40kTab1"},
    {"experiment": "table1", "train_size": 40000, "policy": "multistep", "bn": 0.999,
     "iterations": 80000, "accuracy": 90.43, "source": "Results/lr35Tr40kTab1"},
    {"experiment": "table1", "train_size": 30000, "policy": "one_cycle", "bn": 0.95,
     "iterations": 10000, "accuracy": 89.64, "source": "Results/clr3SS5kTr30kTab1"},
    {"experiment": "table1", "train_size": 30000, "policy": "multistep", "bn": 0.999,
     "iterations": 80000, "accuracy": 86.36, "source": "Results/lr35Tr30kTab1"},
    {"experiment": "table1", "train_size": 20000, "policy": "one_cycle", "bn": 0.95,
     "iterations": 10000, "accuracy": 87.92, "source": "Results/clr3SS5kTr20kTab1"},
    {"experiment": "table1", "train_size": 20000, "policy": "multistep", "bn": 0.999,
     "iterations": 80000, "accuracy": 62.33, "source": "Results/lr35Tr20kTab1"},
    {"experiment": "table1", "train_size": 10000, "policy": "one_cycle", "bn": 0.95,
     "iterations": 10000, "accuracy": 80.59, "source": "Results/clr3SS5kTr10kTab1"},
    {"experiment": "table1", "train_size": 10000, "policy": "multistep", "bn": 0.999,
     "iterations": 80000, "accuracy": 71.20, "source": "Results/lr35Tr10kTab1"},
]
ASSUMPTIONS = [
    "input scaling: per-channel standardisation (Caffe: mean-image subtraction)",
    "resnet56: He et al. option A shortcuts (prototxt: avg-pool shortcut, zeros concatenated "
    "after the down-sampling block, block at the old width)",
    "initialisers and batch-norm epsilon: Keras defaults (Caffe: msra fillers)",
    "reduced training sets: the first N images of a seeded shuffle (paper: unspecified subset)",
    "range test starts at end_lr / steps instead of 0 (the library needs a positive start)",
]

logger = logging.getLogger(NAME)


@dataclass(frozen=True)
class Arm:
    """One training run: a schedule on a training-set size with a batch-norm momentum."""

    experiment: str
    policy: str  # "one_cycle" or "multistep"
    train_size: int  # in paper units (out of 50,000); scaled to the data actually present
    bn: float
    iterations: int
    seed: int

    @property
    def key(self) -> str:
        return (f"{self.policy}_n{self.train_size}_bn{self.bn:g}_it{self.iterations}"
                f"_s{self.seed}")


# ------------------------------------------------------------------------------- smoke data
def write_cifar_files(folder: Path, *, per_batch: int = 40, n_test: int = 40,
                      seed: int = 0) -> Path:
    """A tiny ``cifar-10-batches-py`` folder (5 training batches, a test batch, the meta file)
    of random uint8 images and labels, in the real format (pickled dicts, protocol 2)."""
    import numpy as np

    from superconverge.data.cifar import CIFAR10_CLASSES

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = n_test if name == "test_batch" else per_batch
        images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        record = {
            b"batch_label": name.encode(),
            b"data": images.transpose(0, 3, 1, 2).reshape(n, 3072),
            b"labels": [int(v) for v in rng.integers(0, 10, n)],
            b"filenames": [f"{name}_{i}.png".encode() for i in range(n)],
        }
        with open(folder / name, "wb") as handle:
            pickle.dump(record, handle, protocol=2)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({b"label_names": [c.encode() for c in CIFAR10_CLASSES],
                     b"num_vis": 3072}, handle, protocol=2)
    return folder


def apply_smoke(args: argparse.Namespace) -> None:
    """Scale every count down so that all experiments finish in seconds on a CPU."""
    args.data = str(write_cifar_files(Path(args.work_dir) / "smoke-data" / "cifar-10-batches-py"))
    args.model = args.model or "resnet20"  # same builder as resnet56, a third of the work
    args.batch_size = 16
    args.one_cycle_iterations = 6
    args.multistep_iterations = 8
    args.multistep_drops = [5, 7]
    args.range_steps = 10
    args.eval_points = 2
    args.table1_sizes = [50000, 10000]


# ------------------------------------------------------------------------------------ plan
def plan_arms(args: argparse.Namespace) -> list[Arm]:
    """Every arm once; an arm two experiments share (fig1a's runs are Table 1's 50k row)
    carries both names, e.g. ``fig1a+table1``."""
    arms: list[Arm] = []

    def add(arm: Arm) -> None:
        for i, a in enumerate(arms):
            if a.key == arm.key:
                if arm.experiment not in a.experiment.split("+"):
                    arms[i] = Arm(**{**asdict(a), "experiment": f"{a.experiment}+{arm.experiment}"})
                return
        arms.append(arm)

    for seed in args.seeds:
        one = dict(policy="one_cycle", iterations=args.one_cycle_iterations, seed=seed)
        multi = dict(policy="multistep", iterations=args.multistep_iterations, seed=seed)
        if "fig1a" in args.experiments:
            add(Arm("fig1a", train_size=FULL_TRAIN, bn=args.bn_one_cycle, **one))
            add(Arm("fig1a", train_size=FULL_TRAIN, bn=args.bn_multistep, **multi))
        if "bn" in args.experiments:
            add(Arm("bn", train_size=FULL_TRAIN, bn=args.bn_one_cycle, **one))
            for value in bn_values(args):
                add(Arm("bn", train_size=FULL_TRAIN, bn=value, **one))
        if "table1" in args.experiments:
            for size in args.table1_sizes:
                add(Arm("table1", train_size=size, bn=args.bn_one_cycle, **one))
                add(Arm("table1", train_size=size, bn=args.bn_multistep, **multi))
    return arms


def bn_values(args: argparse.Namespace) -> list[float]:
    from superconverge.regularization import recommended_bn_momentum

    out = []
    for value in args.bn_values:
        v = (recommended_bn_momentum(args.one_cycle_iterations) if value == "recommended"
             else float(value))
        if v != args.bn_one_cycle and v not in out:
            out.append(v)
    return out


def settings_digest(args: argparse.Namespace) -> str:
    """Arms are cached per digest of everything that changes their result."""
    keys = ("data", "model", "batch_size", "weight_decay", "momentum", "one_cycle_min",
            "one_cycle_max", "multistep_lr", "multistep_drops", "pad", "eval_points")
    blob = json.dumps({k: getattr(args, k) for k in keys}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


# ------------------------------------------------------------------------------- training
def load_splits(args: argparse.Namespace, seed: int, train_subset: int | None = None) -> Any:
    """CIFAR-10 without a validation hold-out (the paper trains on all 50,000 and reports the
    test set); ``train_subset`` keeps the first N images of a seeded shuffle."""
    from superconverge import data

    return data.load("cifar10", path=args.data, validation_split=0.0, seed=seed,
                     train_subset=train_subset, standardize=True)


def train_size_for(arm: Arm, available: int) -> int:
    """Paper size (out of 50,000) → examples of the data present (all when it is 50,000)."""
    return max(1, min(available, round(arm.train_size * available / FULL_TRAIN)))


class _EvaluateAt:
    """Keras callback factory: test accuracy at given iterations (checked at epoch ends) and
    a stop exactly at ``iterations``."""

    @staticmethod
    def make(x_test: Any, y_test: Any, points: list[int], iterations: int,
             batch_size: int) -> Any:
        import keras

        class EvaluateAt(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.curve: list[tuple[int, float]] = []
                self.pending = sorted(points)

            def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
                if int(self.model.optimizer.iterations) >= iterations:
                    self.model.stop_training = True

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                step = int(self.model.optimizer.iterations)
                if self.pending and step >= self.pending[0] and step < iterations:
                    while self.pending and self.pending[0] <= step:
                        self.pending.pop(0)
                    acc = self.model.evaluate(x_test, y_test, batch_size=batch_size, verbose=0)
                    self.curve.append((step, float(acc[1])))

        return EvaluateAt()


def build_model(args: argparse.Namespace, splits: Any, bn: float, seed: int) -> Any:
    import keras

    from superconverge import models

    keras.utils.set_random_seed(seed)
    return models.build(args.model, splits.input_shape, splits.num_classes, bn_momentum=bn,
                        weight_decay=args.weight_decay, seed=seed)


def train_arm(args: argparse.Namespace, arm: Arm) -> dict[str, Any]:
    import keras

    import superconverge as sc
    from superconverge.data.augment import Augmentation
    from superconverge.schedules import OneCycleSchedule, Phase

    splits = load_splits(args, arm.seed)
    n_train = train_size_for(arm, len(splits.train))
    if n_train < len(splits.train):
        splits = load_splits(args, arm.seed, train_subset=n_train)
    x_test, y_test = splits.test.as_tuple()
    model = build_model(args, splits, arm.bn, arm.seed)
    callbacks = []
    if arm.policy == "one_cycle":
        half = arm.iterations / 2
        lo, hi = args.one_cycle_min, args.one_cycle_max
        schedule = OneCycleSchedule.from_phases(
            [Phase(lo, hi, half), Phase(hi, lo, half)], None, arm.iterations,
            name="caffe_triangular",
        )
        optimizer = keras.optimizers.SGD(lo, momentum=args.momentum)
        callbacks.append(sc.OneCycle(schedule=schedule, cycle_momentum=False))
        policy = {"lr": [lo, hi, lo], "stepsize": half, "momentum": args.momentum}
    else:
        lr = args.multistep_lr
        decay = keras.optimizers.schedules.PiecewiseConstantDecay(
            list(args.multistep_drops), [lr * 0.1**i for i in range(len(args.multistep_drops) + 1)]
        )
        optimizer = keras.optimizers.SGD(decay, momentum=args.momentum)
        policy = {"lr": lr, "gamma": 0.1, "drops": list(args.multistep_drops),
                  "momentum": args.momentum}
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    batches = splits.train_batches(args.batch_size, augment=Augmentation(pad=args.pad, flip=True),
                                   shuffle=True, seed=arm.seed)
    steps_per_epoch = len(batches)
    epochs = math.ceil(arm.iterations / steps_per_epoch)
    every = max(1, arm.iterations // (args.eval_points + 1))
    points = [every * (i + 1) for i in range(args.eval_points)]
    evaluate = _EvaluateAt.make(x_test, y_test, points, arm.iterations, args.eval_batch_size)
    started = time.perf_counter()
    model.fit(batches, epochs=epochs, callbacks=[*callbacks, evaluate], verbose=0,
              shuffle=False)
    wall = time.perf_counter() - started
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=args.eval_batch_size, verbose=0)[:2]
    done = int(model.optimizer.iterations)
    return {
        **asdict(arm),
        "key": arm.key,
        "train_examples": n_train,
        "iterations_run": done,
        "epochs": done / steps_per_epoch,
        "policy_settings": policy,
        "test_accuracy": float(accuracy),
        "test_loss": float(loss),
        "curve": [*evaluate.curve, (done, float(accuracy))],
        "wall_time": wall,
    }


def range_test(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """Fig. 2b: linear 0 → 3, no divergence stop, test accuracy along the way."""
    import keras
    import numpy as np

    from superconverge.data.augment import Augmentation
    from superconverge.finder import lr_range_test

    splits = load_splits(args, seed)
    model = build_model(args, splits, args.bn_one_cycle, seed)
    model.compile(keras.optimizers.SGD(args.one_cycle_min, momentum=args.momentum),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    batches = splits.train_batches(args.batch_size, augment=Augmentation(pad=args.pad, flip=True),
                                   shuffle=True, seed=seed)
    steps = args.range_steps
    started = time.perf_counter()
    result = lr_range_test(
        model, batches, start_lr=args.range_max / steps, end_lr=args.range_max, steps=steps,
        mode="linear", diverge=None, validation_data=splits.test.as_tuple(),
        validation_every=max(1, steps // 50), validation_batches=args.range_val_batches,
        validation_batch_size=args.eval_batch_size, shuffle=False,
    )
    wall = time.perf_counter() - started
    result.save(Path(args.work_dir) / f"range_test_s{seed}.json")
    out: dict[str, Any] = {"seed": seed, "steps": len(result.lrs), "start_lr": float(result.lrs[0]),
                           "end_lr": float(result.lrs[-1]), "wall_time": wall,
                           "stop_reason": result.stop_reason}
    if result.val_accuracies is not None and len(result.val_accuracies):
        acc = np.asarray(result.val_accuracies, dtype=float)
        lr_at = np.asarray(result.lrs)[np.asarray(result.val_steps, dtype=int)]
        best = int(np.nanargmax(acc))
        out.update(peak_test_accuracy=float(acc[best]), lr_at_peak=float(lr_at[best]),
                   test_accuracy_at_end=float(acc[-1]), lr_at_end=float(lr_at[-1]))
    try:
        s = result.suggest()
        out["auto_bounds"] = {"max_lr": s.max_lr, "min_lr": s.min_lr,
                              "confidence": s.confidence, "reason": s.reason}
    except Exception as error:  # a flat or degenerate curve (e.g. smoke data)
        out["auto_bounds"] = {"error": f"{type(error).__name__}: {error}"}
    return out


# ------------------------------------------------------------------------------- reporting
def reference_for(arm: dict[str, Any]) -> dict[str, Any] | None:
    for ref in PAPER_RESULTS:
        if (ref["train_size"] == arm["train_size"] and ref["policy"] == arm["policy"]
                and ref["bn"] == arm["bn"]):
            return ref
    return None


def rows_for_report(arms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for a in arms:
        ref = reference_for(a)
        rows.append({
            "experiment": a["experiment"], "train_size": a["train_size"],
            "train_examples": a["train_examples"], "policy": a["policy"], "bn": a["bn"],
            "iterations": a["iterations_run"], "seed": a["seed"],
            "measured": 100 * a["test_accuracy"],
            "paper": ref["accuracy"] if ref else None,
            "paper_iterations": ref["iterations"] if ref else None,
            "source": ref["source"] if ref else None,
            "wall_time": a["wall_time"],
        })
    return rows


def markdown(payload: dict[str, Any]) -> list[str]:
    s = payload["settings"]
    lines = [
        f"# Super-convergence reproduction (Smith & Topin, CIFAR-10, {s['model']})",
        "",
        ("**Smoke run on generated data: the accuracies mean nothing.** " if s["smoke"] else "")
        + f"{s['model']}, batch {s['batch_size']}, SGD momentum {s['momentum']}, weight decay "
        f"{s['weight_decay']}; one cycle {s['one_cycle_min']} → {s['one_cycle_max']} → "
        f"{s['one_cycle_min']} over {s['one_cycle_iterations']} iterations; multistep "
        f"{s['multistep_lr']} ×0.1 at {s['multistep_drops']} over {s['multistep_iterations']}; "
        f"{payload['backend']} backend. Paper = final test accuracy in the authors' released "
        f"logs ({LOG_SOURCE}).",
        "",
        "| experiment | training set | schedule | BN momentum | iterations | measured test "
        "accuracy (%) | paper (%) | Δ (pp) | wall time (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in payload["rows"]:
        paper = f"{r['paper']:.2f}" if r["paper"] is not None else "—"
        delta = f"{r['measured'] - r['paper']:+.2f}" if r["paper"] is not None else "—"
        size = f"{r['train_size'] // 1000}k" + (
            f" ({r['train_examples']})" if r["train_examples"] != r["train_size"] else "")
        lines.append(
            f"| {r['experiment']} | {size} | {r['policy']} | {r['bn']:g} | {r['iterations']} | "
            f"{r['measured']:.2f} | {paper} | {delta} | {r['wall_time']:.0f} |"
        )
    for rt in payload.get("range_test", []):
        lines += ["", f"Range test (Fig. 2b), seed {rt['seed']}: linear {rt['start_lr']:.3g} → "
                  f"{rt['end_lr']:.3g} over {rt['steps']} iterations ({rt['stop_reason']})."]
        if "peak_test_accuracy" in rt:
            lines.append(
                "Test accuracy on the sampled batches peaks at "
                f"{100 * rt['peak_test_accuracy']:.1f} % at LR {rt['lr_at_peak']:.3g} and is "
                f"{100 * rt['test_accuracy_at_end']:.1f} % "
                f"at LR {rt['lr_at_end']:.3g} (the paper's sign of super-convergence: accuracy "
                "stays high up to LR 3)."
            )
        b = rt.get("auto_bounds", {})
        lines.append(f"Automatic bounds from the training loss: max LR {b['max_lr']:.3g}, min LR "
                     f"{b['min_lr']:.3g}, confidence {b['confidence']:.2f}." if "max_lr" in b
                     else f"Automatic bounds: {b.get('error')}.")
    lines += ["", "Assumptions: " + "; ".join(payload["assumptions"]) + "."]
    return lines


def print_table(payload: dict[str, Any]) -> None:
    print(f"{'experiment':<12} {'train':>6} {'schedule':<10} {'BN':>6} {'iters':>6} "
          f"{'measured':>9} {'paper':>7} {'Δ':>7}")
    for r in payload["rows"]:
        paper = f"{r['paper']:7.2f}" if r["paper"] is not None else f"{'—':>7}"
        delta = f"{r['measured'] - r['paper']:+7.2f}" if r["paper"] is not None else f"{'—':>7}"
        print(f"{r['experiment']:<12} {r['train_size'] // 1000:>5}k {r['policy']:<10} "
              f"{r['bn']:>6g} {r['iterations']:>6} {r['measured']:>9.2f} {paper} {delta}")


# ------------------------------------------------------------------------------------ main
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="the cifar-10-batches-py folder (or its parent); default: "
                                  "$SUPERCONVERGE_DATA, /usr/share/datasets, Keras' cache")
    p.add_argument("--experiments", nargs="+", choices=EXPERIMENTS, default=list(EXPERIMENTS))
    p.add_argument("--model", default=None, help="default resnet56 (--smoke: resnet20)")
    p.add_argument("--batch-size", type=int, default=1000, help="paper: 8 GPUs × 125")
    p.add_argument("--eval-batch-size", type=int, default=500)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--one-cycle-min", type=float, default=0.1)
    p.add_argument("--one-cycle-max", type=float, default=3.0)
    p.add_argument("--one-cycle-iterations", type=int, default=10000)
    p.add_argument("--multistep-lr", type=float, default=0.35)
    p.add_argument("--multistep-drops", type=int, nargs="+", default=[50000, 70000])
    p.add_argument("--multistep-iterations", type=int, default=80000)
    p.add_argument("--bn-one-cycle", type=float, default=0.95)
    p.add_argument("--bn-multistep", type=float, default=0.999)
    p.add_argument("--bn-values", nargs="+", default=["0.999", "recommended"],
                   help="one-cycle BN momenta compared with --bn-one-cycle in the bn experiment")
    p.add_argument("--table1-sizes", type=int, nargs="+",
                   default=[50000, 40000, 30000, 20000, 10000])
    p.add_argument("--range-steps", type=int, default=20000)
    p.add_argument("--range-max", type=float, default=3.0)
    p.add_argument("--range-val-batches", type=int, default=4)
    p.add_argument("--pad", type=int, default=0,
                   help="pad-and-crop pixels (paper: 0, mirror only)")
    p.add_argument("--eval-points", type=int, default=19,
                   help="intermediate test evaluations per arm")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--smoke", action="store_true",
                   help="tiny generated CIFAR files and tiny counts: an end-to-end check")
    p.add_argument("--work-dir", default=str(DEFAULT_WORK))
    p.add_argument("--out-dir", default=None,
                   help="default benchmarks/results (with --smoke: WORK_DIR/smoke)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    if args.smoke:
        apply_smoke(args)
    args.model = args.model or "resnet56"
    out_dir = Path(args.out_dir or (Path(args.work_dir) / "smoke" if args.smoke else RESULTS))
    arms_dir = Path(args.work_dir) / "arms" / settings_digest(args)
    arms_dir.mkdir(parents=True, exist_ok=True)

    from superconverge.io import atomic_write_json, atomic_write_text, read_json

    started = time.perf_counter()
    ranges = []
    if "range_test" in args.experiments:
        for seed in args.seeds:
            logger.info("range test (seed %d, %d steps)", seed, args.range_steps)
            ranges.append(range_test(args, seed))
    results = []
    arms = plan_arms(args)
    for index, arm in enumerate(arms, 1):
        path = arms_dir / f"{arm.key}.json"
        if path.exists():
            logger.info("[%d/%d] %s: finished earlier", index, len(arms), arm.key)
            result = read_json(path)
        else:
            logger.info("[%d/%d] %s ...", index, len(arms), arm.key)
            result = train_arm(args, arm)
            atomic_write_json(path, result)
            logger.info("[%d/%d] %s: test accuracy %.4f in %.0f s", index, len(arms), arm.key,
                        result["test_accuracy"], result["wall_time"])
        results.append({**result, "experiment": arm.experiment})

    import keras

    settings = {k: getattr(args, k) for k in (
        "model", "batch_size", "momentum", "weight_decay", "one_cycle_min", "one_cycle_max",
        "one_cycle_iterations", "multistep_lr", "multistep_drops", "multistep_iterations",
        "bn_one_cycle", "bn_multistep", "table1_sizes", "range_steps", "range_max", "pad",
        "seeds", "experiments", "smoke")}
    settings["bn_values"] = bn_values(args)
    payload = {
        "benchmark": NAME,
        "system": system_info(),
        "backend": keras.backend.backend(),
        "settings": settings,
        "paper": {"source": LOG_SOURCE, "results": PAPER_RESULTS},
        "assumptions": ASSUMPTIONS,
        "range_test": ranges,
        "rows": rows_for_report(results),
        "arms": results,
        "elapsed_s": time.perf_counter() - started,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / f"{NAME}.json", payload)
    atomic_write_text(out_dir / f"{NAME}.md", "\n".join(markdown(payload)) + "\n")
    print_table(payload)
    logger.info("wrote %s", out_dir / f"{NAME}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
