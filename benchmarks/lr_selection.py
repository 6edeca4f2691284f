"""How good are the LR bounds methods at choosing One Cycle's max LR, at several training
budgets? (issues 4 and 19)

For each task (a real data set with an architecture) and each seed:

1. run the LR range test (one epoch at most, with a small validation sample so that Smith's
   ``accuracy`` method can be scored too);
2. for each budget (``--budgets``, in epochs; default 2, 4 and 8): ask every registered
   method for its max LR, telling it the budget's number of optimizer steps
   (``suggest(..., total_steps=...)``, as the pipeline does), and train a One Cycle run of
   that many epochs with each method's max LR and with every point of a log-spaced grid of
   max LRs (min LR = max / 10, the library's default);
3. score each run by its accuracy on the **validation** split (the test split is never used).

The range test and the grid and method runs of one repetition share the seed: the same
initial weights (seeded initialisers) and the same batch order (``train_batches(seed=...)``),
and one range test serves every budget, so a method's regret is paired with the grid of the
same repetition and budget:

    regret = (best grid-point val accuracy − val accuracy at the method's max LR) × 100   [pp]

and the move of the best grid LR from budget to budget is measured on the same seeds.

**Momentum recipe** (``--momentum-recipe``, default ``nesterov``): SGD with constant Nesterov
momentum 0.9 in the range test and in training, the pipeline's default recipe
(``superconverge/defaults.py``), because the pipeline is what ``auto`` serves most: its pick
is used there, with that optimizer, on every run that does not set ``max_lr``. ``cycled`` is
this benchmark's recipe before issue 19 (plain momentum 0.9 in the range test, OneCycle's
0.95→0.85 cycle in training); its cached runs keep their keys. The other parts of the
pipeline's recipe (batch 64, weight decay, label smoothing, EMA, precise BN) are not used: these
are short runs of small models, sized for a shared 2-CPU machine.

A method *fails* on a curve when it raises, returns confidence 0, or returns a max LR at or
beyond the edge of the LR range the test actually swept (clamped into it). A failed pick that
still came with an LR is trained and counted in the regret as any other (it is what a user
would get); a method that raised has no LR and no regret for that repetition.

Tasks (sizes are flags): ``fmnist_cnn`` Fashion-MNIST + ``simple_cnn`` (BN CNN);
``fmnist_mlp`` Fashion-MNIST + a 784-256-128-10 ReLU MLP without batch norm; ``mnist1d_cnn``
MNIST-1D + ``simple_cnn`` on 1-D signals; ``mnist1d_mlp`` MNIST-1D + the same MLP.

    python benchmarks/lr_selection.py --tasks fmnist_cnn mnist1d_cnn   # 2, 4 and 8 epochs
    python benchmarks/lr_selection.py --aggregate-only             # rewrite outputs from cache
    # the single-budget benchmark of issue 4, from its committed cache:
    python benchmarks/lr_selection.py --task-epochs --momentum-recipe cycled \
        --cache-dir benchmarks/results/lr_selection_cache --aggregate-only --out-dir /tmp/x

Each task runs in its own subprocess (``--jobs`` at a time) under ``--backend``. Finished
range tests and training runs are appended to ``--cache-dir``/<task>.jsonl (keyed by task,
seed, LR and a fingerprint of every setting and of the budget), so a crash or a rerun skips
finished work, and adding a budget reuses the runs of the others. Writes
benchmarks/results/lr_selection.{json,md} and lr_selection_<task>_<E>ep.png (``--out-dir``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
NAME = "lr_selection"
DEFAULT_CACHE = Path("/tmp/superconverge_lr_selection")
#: the methods the target compares ``auto`` with
HEURISTICS = ("valley", "steep", "minimum", "slide", "lightning")
TARGET_PP = 0.5
MOMENTUM_RECIPES = ("nesterov", "cycled")
OPTIMIZERS = ("sgd", "adam")


# ============================================================================ tasks
@dataclass(frozen=True)
class TaskSpec:
    """One benchmark task: how to load its data, build its model, and how long to train.

    ``load()`` returns :class:`superconverge.data.DatasetSplits`; ``build(input_shape,
    num_classes, seed)`` an uncompiled Keras model with softmax outputs.
    """

    name: str
    description: str
    load: Callable[[], Any]
    build: Callable[[Sequence[int], int, int], Any]
    epochs: int
    config: Mapping[str, Any] = field(default_factory=dict)


def mlp(input_shape: Sequence[int], num_classes: int, seed: int, widths=(256, 128),
        batch_norm: bool = False) -> Any:
    """Flatten → Dense-ReLU layers of ``widths`` → softmax, seeded init; no batch norm unless
    ``batch_norm`` (then Dense without bias → BN (momentum 0.9) → ReLU per width: the fresh
    task ``fmnist_mlp_bn`` of issue 19, batch norm without convolution)."""
    import keras

    layers: list[Any] = [keras.Input(tuple(input_shape)), keras.layers.Flatten()]
    for k, w in enumerate(widths):
        init = keras.initializers.HeNormal(seed + k)
        if batch_norm:
            layers += [keras.layers.Dense(w, use_bias=False, kernel_initializer=init),
                       keras.layers.BatchNormalization(momentum=0.9), keras.layers.ReLU()]
        else:
            layers.append(keras.layers.Dense(w, activation="relu", kernel_initializer=init))
    layers.append(
        keras.layers.Dense(
            num_classes,
            activation="softmax",
            kernel_initializer=keras.initializers.GlorotUniform(seed + len(widths)),
        )
    )
    return keras.Sequential(layers, name="mlp_bn" if batch_norm else "mlp")


def mlp_bn(input_shape: Sequence[int], num_classes: int, seed: int) -> Any:
    """:func:`mlp` with batch norm."""
    return mlp(input_shape, num_classes, seed, batch_norm=True)


def plain_cnn(input_shape: Sequence[int], num_classes: int, seed: int, width: int = 16) -> Any:
    """``simple_cnn``'s conv stack without batch norm: five Conv-ReLU layers (biases on, widths
    w, 2w, 2w, 4w, 4w, strides 1, 2, 1, 2, 1), global average pooling, softmax; He init,
    seeded. A fresh task of issue 19 (convolutions, no batch norm)."""
    import keras

    rank = len(input_shape) - 1
    conv = keras.layers.Conv2D if rank == 2 else keras.layers.Conv1D
    pool = (keras.layers.GlobalAveragePooling2D if rank == 2
            else keras.layers.GlobalAveragePooling1D)
    layers: list[Any] = [keras.Input(tuple(input_shape))]
    for k, (filters, stride) in enumerate(
            ((width, 1), (2 * width, 2), (2 * width, 1), (4 * width, 2), (4 * width, 1))):
        layers.append(conv(filters, 3, strides=stride, padding="same", activation="relu",
                           kernel_initializer=keras.initializers.HeNormal(seed + k)))
    layers += [pool(), keras.layers.Dense(
        num_classes, activation="softmax",
        kernel_initializer=keras.initializers.GlorotUniform(seed + 5))]
    return keras.Sequential(layers, name="plain_cnn")


def simple_cnn(input_shape: Sequence[int], num_classes: int, seed: int, width: int = 16) -> Any:
    """``simple_cnn`` with batch-norm momentum 0.9 (Keras convention; PyTorch's 0.1): with
    the default 0.99 the moving statistics still lag after a 200-step run, and the
    inference-mode validation accuracy measures that lag rather than the learning rate
    (measured: 38–63 % on Fashion-MNIST where the same runs reach ≈ 85 %)."""
    from superconverge import models

    return models.build("simple_cnn", input_shape, num_classes, seed=seed, bn_momentum=0.9,
                        width=width)


def mlp_deep(input_shape: Sequence[int], num_classes: int, seed: int) -> Any:
    """:func:`mlp` with three hidden layers, 512-256-128, no batch norm."""
    return mlp(input_shape, num_classes, seed, widths=(512, 256, 128))


def plain_cnn_w32(input_shape: Sequence[int], num_classes: int, seed: int) -> Any:
    """:func:`plain_cnn` twice as wide (widths 32 … 128), no batch norm."""
    return plain_cnn(input_shape, num_classes, seed, width=32)


def simple_cnn_w32(input_shape: Sequence[int], num_classes: int, seed: int) -> Any:
    """:func:`simple_cnn` twice as wide (widths 32 … 128)."""
    return simple_cnn(input_shape, num_classes, seed, width=32)


def make_tasks(args: argparse.Namespace) -> dict[str, TaskSpec]:
    """The real tasks (the four of the default run and the fresh ones), sized by the flags."""
    from superconverge import data

    def fmnist() -> Any:
        return data.load(
            "fashion_mnist", validation_split=0.1, seed=args.data_seed,
            train_subset=args.fmnist_train,
        )

    def mnist1d() -> Any:
        return data.load(
            "mnist1d", validation_split=args.mnist1d_val, seed=args.data_seed,
            train_subset=args.mnist1d_train, num_samples=args.mnist1d_samples,
        )

    fm_cfg = {"dataset": "fashion_mnist", "train_subset": args.fmnist_train,
              "validation_split": 0.1, "data_seed": args.data_seed}
    m1_cfg = {"dataset": "mnist1d", "num_samples": args.mnist1d_samples,
              "train_subset": args.mnist1d_train, "validation_split": args.mnist1d_val,
              "data_seed": args.data_seed}
    return {
        "fmnist_cnn": TaskSpec(
            "fmnist_cnn",
            "Fashion-MNIST 28×28, simple_cnn (5 conv-BN-ReLU, GAP, ≈70k params, BN momentum 0.9)",
            fmnist, simple_cnn, args.fmnist_epochs,
            {**fm_cfg, "model": "simple_cnn", "bn_momentum": 0.9},
        ),
        "fmnist_mlp": TaskSpec(
            "fmnist_mlp", "Fashion-MNIST 28×28, MLP 784-256-128-10 ReLU, no batch norm",
            fmnist, mlp, args.fmnist_epochs, {**fm_cfg, "model": "mlp256-128"},
        ),
        "mnist1d_cnn": TaskSpec(
            "mnist1d_cnn", "MNIST-1D (40-sample signals), simple_cnn with Conv1D (BN momentum 0.9)",
            mnist1d, simple_cnn, args.mnist1d_epochs,
            {**m1_cfg, "model": "simple_cnn", "bn_momentum": 0.9},
        ),
        "mnist1d_mlp": TaskSpec(
            "mnist1d_mlp", "MNIST-1D (40-sample signals), MLP 40-256-128-10 ReLU, no batch norm",
            mnist1d, mlp, args.mnist1d_epochs, {**m1_cfg, "model": "mlp256-128"},
        ),
        # fresh tasks for issue 19's batch-norm rule (added after the four above were used)
        "fmnist_mlp_bn": TaskSpec(
            "fmnist_mlp_bn",
            "Fashion-MNIST 28×28, MLP 784-256-128-10, Dense-BN-ReLU (BN momentum 0.9)",
            fmnist, mlp_bn, args.fmnist_epochs, {**fm_cfg, "model": "mlp256-128-bn0.9"},
        ),
        "mnist1d_cnn_nobn": TaskSpec(
            "mnist1d_cnn_nobn",
            "MNIST-1D (40-sample signals), simple_cnn's 5 Conv1D-ReLU layers without batch norm",
            mnist1d, plain_cnn, args.mnist1d_epochs, {**m1_cfg, "model": "plain_cnn16"},
        ),
        # the second pair, for the rule "trials unless batch norm and convolutions"
        "fmnist_cnn_nobn": TaskSpec(
            "fmnist_cnn_nobn",
            "Fashion-MNIST 28×28, simple_cnn's 5 Conv2D-ReLU layers without batch norm",
            fmnist, plain_cnn, args.fmnist_epochs, {**fm_cfg, "model": "plain_cnn16"},
        ),
        "mnist1d_cnn_w32": TaskSpec(
            "mnist1d_cnn_w32",
            "MNIST-1D (40-sample signals), simple_cnn with Conv1D, width 32 (BN momentum 0.9)",
            mnist1d, simple_cnn_w32, args.mnist1d_epochs,
            {**m1_cfg, "model": "simple_cnn32", "bn_momentum": 0.9},
        ),
        # the third pair, for trials whose upward moves are confirmed at twice the length
        "fmnist_mlp_deep": TaskSpec(
            "fmnist_mlp_deep",
            "Fashion-MNIST 28×28, MLP 784-512-256-128-10 ReLU, no batch norm",
            fmnist, mlp_deep, args.fmnist_epochs, {**fm_cfg, "model": "mlp512-256-128"},
        ),
        "mnist1d_cnn_nobn_w32": TaskSpec(
            "mnist1d_cnn_nobn_w32",
            "MNIST-1D (40-sample signals), simple_cnn's 5 Conv1D-ReLU layers without batch "
            "norm, width 32",
            mnist1d, plain_cnn_w32, args.mnist1d_epochs, {**m1_cfg, "model": "plain_cnn32"},
        ),
    }


@dataclass(frozen=True)
class RunConfig:
    """Settings shared by all tasks (all from flags)."""

    batch_size: int = 128
    range_start: float = 1e-4
    range_end: float = 10.0
    range_steps: int | None = None  # None: one epoch
    range_val_batches: int = 4
    momentum: float = 0.9
    eval_batch_size: int = 512
    #: ``"nesterov"``: constant Nesterov momentum (the pipeline's default recipe) in the range
    #: test and in training; ``"cycled"``: plain momentum in the range test and OneCycle's
    #: 0.95→0.85 cycle in training (this benchmark before issue 19)
    momentum_recipe: str = "nesterov"
    #: ``"sgd"`` (momentum as above) or ``"adam"`` (β1 = ``momentum``, constant; the
    #: momentum recipe must then be ``"nesterov"``, i.e. not cycled)
    optimizer: str = "sgd"

    def __post_init__(self) -> None:
        if self.momentum_recipe not in MOMENTUM_RECIPES:
            raise ValueError(f"momentum_recipe must be one of {MOMENTUM_RECIPES}, "
                             f"got {self.momentum_recipe!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.optimizer == "adam" and self.momentum_recipe == "cycled":
            raise ValueError("optimizer 'adam' keeps beta_1 constant: use momentum_recipe "
                             "'nesterov' (constant momentum) with it")

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        if out["momentum_recipe"] == "cycled":  # the recipe before the field existed: the
            del out["momentum_recipe"]          # fingerprints of its cached runs stay valid
        if out["optimizer"] == "sgd":  # likewise for the runs from before the optimizer field
            del out["optimizer"]
        return out


def log_grid(lo: float, hi: float, n: int) -> list[float]:
    """``n`` log-spaced max LRs from ``lo`` to ``hi`` (inclusive), rounded to 4 digits."""
    if not (0 < lo < hi) or n < 2:
        raise ValueError(f"need 0 < lo < hi and n >= 2, got {lo}, {hi}, {n}")
    return [float(f"{v:.4g}") for v in np.logspace(math.log10(lo), math.log10(hi), n)]


def lr_key(lr: float) -> str:
    """Cache key of a max LR: 6 significant digits (equal picks share one training run)."""
    return f"{float(lr):.6g}"


def fingerprint(spec: TaskSpec, cfg: RunConfig, epochs: int | None = None) -> str:
    """Settings fingerprint of the cache keys. Range tests use the task's own ``epochs``
    (they do not depend on the budget, but their keys always held it); a training run uses
    its budget, ``epochs``, so a run of E epochs has the same key whatever other budgets are
    scored, and the single-budget runs cached before budgets existed are found again."""
    if epochs is not None:
        spec = replace(spec, epochs=int(epochs))
    blob = json.dumps({"task": spec.name, "epochs": spec.epochs, "config": dict(spec.config),
                       "run": cfg.to_dict()}, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


# ============================================================================ pure scoring
def classify_suggestion(
    suggestion: Any = None, error: BaseException | None = None, swept: Sequence[float] = ()
) -> dict[str, Any]:
    """Turn a method's outcome into a record: ``max_lr`` (None if it raised), ``failed`` and
    ``failure`` (``"error"``, ``"zero_confidence"``, ``"outside_sweep"``, or None).

    ``swept`` is ``(lowest, highest)`` LR the range test actually ran; a max LR at or beyond
    either edge, or one :func:`superconverge.bounds` had to clamp, is ``"outside_sweep"``.
    """
    if error is not None or suggestion is None:
        msg = f"{type(error).__name__}: {error}" if error is not None else "no suggestion"
        return {"max_lr": None, "min_lr": None, "confidence": None, "failed": True,
                "failure": "error", "reason": msg[:300]}
    max_lr = float(suggestion.max_lr)
    conf = float(suggestion.confidence)
    clamped = list((suggestion.diagnostics or {}).get("clamped") or [])
    failure = None
    if conf <= 0.0:
        failure = "zero_confidence"
    elif "max_lr" in clamped or (
        len(swept) == 2
        and (max_lr <= swept[0] * (1 + 1e-9) or max_lr >= swept[1] * (1 - 1e-9))
    ):
        failure = "outside_sweep"
    return {"max_lr": max_lr, "min_lr": float(suggestion.min_lr), "confidence": conf,
            "failed": failure is not None, "failure": failure,
            "reason": str(suggestion.reason)[:300]}


def regret_pp(grid_accs: Sequence[float], acc: float) -> float:
    """Accuracy regret in percentage points: ``100 × (max(grid_accs) − acc)`` (negative when
    the method's LR beats every grid point)."""
    return 100.0 * (max(grid_accs) - float(acc))


def summary_stats(values: Sequence[float]) -> dict[str, float | int | None]:
    """Mean, sample std (n−1; 0 for one value), median, n; ``None``s for no values."""
    vals = [float(v) for v in values]
    if not vals:
        return {"mean": None, "std": None, "median": None, "n": 0}
    return {"mean": statistics.fmean(vals),
            "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
            "median": statistics.median(vals), "n": len(vals)}


def score_task(
    seeds: Sequence[int],
    grid: Sequence[float],
    methods: Sequence[str],
    suggestions: Mapping[int, Mapping[str, Mapping[str, Any]]],
    accs: Mapping[tuple[int, str], float],
) -> dict[str, Any]:
    """Paired regrets of one task.

    Args:
        suggestions: ``seed -> method -> classify_suggestion(...)`` record.
        accs: ``(seed, lr_key(lr)) -> val accuracy`` (fraction) of the finished runs.

    Only seeds whose range test and every grid run finished are scored. Returns per-seed rows
    (best grid LR/accuracy, each method's LR, accuracy, regret, failure) and per-method and
    per-grid-point summaries.
    """
    per_seed: dict[int, Any] = {}
    for seed in seeds:
        if seed not in suggestions:
            continue
        grid_acc = [accs.get((seed, lr_key(g))) for g in grid]
        if any(a is None for a in grid_acc):
            continue
        best_i = int(np.argmax(grid_acc))
        rows = {}
        for m in methods:
            s = dict(suggestions[seed].get(m) or classify_suggestion(None))
            acc = None if s["max_lr"] is None else accs.get((seed, lr_key(s["max_lr"])))
            s["val_acc"] = acc
            s["regret_pp"] = None if acc is None else regret_pp(grid_acc, acc)
            s["decades_from_best"] = (
                None if s["max_lr"] is None else math.log10(s["max_lr"] / grid[best_i])
            )
            rows[m] = s
        per_seed[seed] = {"grid_acc": grid_acc, "best_lr": grid[best_i],
                          "best_acc": grid_acc[best_i], "methods": rows}
    method_summary = {}
    for m in methods:
        rows = [per_seed[s]["methods"][m] for s in per_seed]
        reg = [r["regret_pp"] for r in rows if r["regret_pp"] is not None]
        lrs = [r["max_lr"] for r in rows if r["max_lr"] is not None]
        dec = [r["decades_from_best"] for r in rows if r["decades_from_best"] is not None]
        kinds: dict[str, int] = {}
        for r in rows:
            if r["failed"]:
                kinds[r["failure"]] = kinds.get(r["failure"], 0) + 1
        method_summary[m] = {
            "regret_pp": summary_stats(reg),
            "failures": sum(kinds.values()),
            "failure_kinds": kinds,
            "n_seeds": len(rows),
            "geomean_max_lr": (float(np.exp(np.mean(np.log(lrs)))) if lrs else None),
            "decades_from_best": summary_stats(dec),
        }
    grid_summary = [
        {"max_lr": g, "val_acc": summary_stats([per_seed[s]["grid_acc"][i] for s in per_seed])}
        for i, g in enumerate(grid)
    ]
    # reference, not a method: the grid LR with the best mean accuracy over the scored seeds,
    # chosen in hindsight. Its per-seed regret is the noise floor of this measure: the best of
    # several noisy grid runs beats a fixed good LR by chance.
    oracle = {"max_lr": None, "regret_pp": summary_stats([]), "per_seed": {}}
    if per_seed:
        j = int(np.argmax([g["val_acc"]["mean"] for g in grid_summary]))
        regs = {s: regret_pp(per_seed[s]["grid_acc"], per_seed[s]["grid_acc"][j])
                for s in per_seed}
        oracle = {"max_lr": grid[j], "regret_pp": summary_stats(list(regs.values())),
                  "per_seed": regs}
    return {"seeds_scored": sorted(per_seed), "per_seed": per_seed, "methods": method_summary,
            "grid": grid_summary, "oracle": oracle}


def overall(task_scores: Mapping[str, Mapping[str, Any]], methods: Sequence[str]) -> dict:
    """Across tasks: pooled regret over every scored (task, seed), the mean of the per-task
    means, the worst per-task mean, and failures out of the number of curves."""
    out = {}
    for m in methods:
        pooled, task_means, fails, curves = [], [], 0, 0
        for sc in task_scores.values():
            ms = sc["methods"][m]
            pooled += [sc["per_seed"][s]["methods"][m]["regret_pp"] for s in sc["per_seed"]
                       if sc["per_seed"][s]["methods"][m]["regret_pp"] is not None]
            if ms["regret_pp"]["mean"] is not None:
                task_means.append(ms["regret_pp"]["mean"])
            fails += ms["failures"]
            curves += ms["n_seeds"]
        out[m] = {"regret_pp": summary_stats(pooled),
                  "mean_of_task_means": statistics.fmean(task_means) if task_means else None,
                  "worst_task_mean": max(task_means) if task_means else None,
                  "failures": fails, "curves": curves}
    pooled = [v for sc in task_scores.values() for v in sc["oracle"]["per_seed"].values()]
    out["_oracle"] = {"regret_pp": summary_stats(pooled),
                      "task_means": {t: sc["oracle"]["regret_pp"]["mean"]
                                     for t, sc in task_scores.items()}}
    return out


def verdict(over: Mapping[str, Mapping[str, Any]], methods: Sequence[str]) -> dict[str, Any]:
    """The issue's target: auto's mean regret ≤ 0.5 pp and below every fastai/Lightning one."""
    if "auto" not in over or over["auto"]["regret_pp"]["mean"] is None:
        return {"met": False, "why": "auto was not scored"}
    a = over["auto"]["regret_pp"]["mean"]
    rivals = {m: over[m]["regret_pp"]["mean"] for m in HEURISTICS
              if m in methods and over[m]["regret_pp"]["mean"] is not None}
    below_target = a <= TARGET_PP
    beats = {m: a < v for m, v in rivals.items()}
    return {"auto_mean_regret_pp": a, "target_pp": TARGET_PP, "within_target": below_target,
            "beats": beats, "beats_all_heuristics": all(beats.values()),
            "met": below_target and all(beats.values())}


# ============================================================================ cache
class Cache:
    """Append-only JSON-lines store of finished work, one file per task."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.records: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a crash
                    continue
                self.records[rec["key"]] = rec

    def __contains__(self, key: str) -> bool:
        return key in self.records

    def __getitem__(self, key: str) -> dict[str, Any]:
        return self.records[key]

    def add(self, rec: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec, allow_nan=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.records[rec["key"]] = rec


def range_key(task: str, seed: int, fp: str) -> str:
    return f"range|{task}|{seed}|{fp}"


def train_key(task: str, seed: int, lr: float, fp: str) -> str:
    return f"train|{task}|{seed}|{lr_key(lr)}|{fp}"


# ============================================================================ Keras parts
def _compile(model: Any, lr: float, cfg: RunConfig) -> None:
    import keras

    optimizer = (keras.optimizers.Adam(lr, beta_1=cfg.momentum) if cfg.optimizer == "adam"
                 else keras.optimizers.SGD(lr, momentum=cfg.momentum,
                                           nesterov=cfg.momentum_recipe == "nesterov"))
    model.compile(optimizer,
                  "sparse_categorical_crossentropy", metrics=["accuracy"])


def run_range_test(spec: TaskSpec, splits: Any, seed: int, cfg: RunConfig) -> Any:
    """The range test of one repetition: seeded model, batches in the seed's order, a fixed
    validation sample (``range_val_batches`` batches) for the accuracy method."""
    import keras

    import superconverge as sc

    keras.utils.set_random_seed(seed)
    model = spec.build(splits.input_shape, splits.num_classes, seed)
    _compile(model, cfg.range_start, cfg)
    return sc.lr_range_test(
        model, splits.train_batches(cfg.batch_size, shuffle=True, seed=seed),
        start_lr=cfg.range_start, end_lr=cfg.range_end, steps=cfg.range_steps,
        validation_data=splits.val.as_tuple(), validation_batches=cfg.range_val_batches,
        validation_batch_size=cfg.batch_size,
    )


def suggest_all(result: Any, methods: Iterable[str],
                total_steps: int | None = None) -> dict[str, dict[str, Any]]:
    """Every method's pick on one curve, for a training of ``total_steps`` optimizer steps
    (``None``: not told, as before issue 19; only budget-aware methods use it)."""
    swept = (float(result.lrs[0]), float(result.lrs[-1]))
    out = {}
    for m in methods:
        try:
            out[m] = classify_suggestion(result.suggest(method=m, total_steps=total_steps),
                                         swept=swept)
        except Exception as exc:  # a method that raises is a failure, recorded as such
            out[m] = classify_suggestion(error=exc)
    return out


def train_one_cycle(spec: TaskSpec, splits: Any, seed: int, max_lr: float,
                    cfg: RunConfig, epochs: int | None = None) -> dict[str, Any]:
    """One short One Cycle run of ``epochs`` (default: the task's) from the repetition's
    initial weights and batch order; returns validation accuracy/loss and the last epoch's
    training loss. The momentum follows ``cfg.momentum_recipe``."""
    epochs = spec.epochs if epochs is None else int(epochs)
    import keras

    import superconverge as sc

    keras.utils.set_random_seed(seed)
    model = spec.build(splits.input_shape, splits.num_classes, seed)
    _compile(model, max_lr, cfg)
    hist = model.fit(
        splits.train_batches(cfg.batch_size, shuffle=True, seed=seed), epochs=epochs,
        shuffle=False, verbose=0,
        callbacks=[sc.OneCycle(max_lr, epochs=epochs,
                               cycle_momentum=cfg.momentum_recipe == "cycled")],
    )
    loss, acc = model.evaluate(*splits.val.as_tuple(), batch_size=cfg.eval_batch_size, verbose=0)
    train_loss = float(hist.history["loss"][-1])

    def finite(v: float) -> float | None:
        return float(v) if math.isfinite(float(v)) else None

    return {"val_acc": float(acc), "val_loss": finite(loss), "train_loss": finite(train_loss)}


def cached_train(cache: Cache, spec: TaskSpec, splits: Any, seed: int, lr: float,
                 cfg: RunConfig, epochs: int,
                 log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """The record of the One Cycle run ``(task, seed, lr, epochs)`` in ``cache``, trained
    (:func:`train_one_cycle`) and appended first when it is not there."""
    key = train_key(spec.name, seed, lr, fingerprint(spec, cfg, epochs))
    if key in cache:
        return cache[key]
    t, c = time.time(), time.process_time()
    res = train_one_cycle(spec, splits, seed, lr, cfg, epochs)
    cache.add({"key": key, "kind": "train", "task": spec.name, "seed": seed,
               "max_lr": float(lr), "epochs": epochs, **res,
               "wall_s": time.time() - t, "cpu_s": time.process_time() - c,
               "load_average": list(os.getloadavg())})
    log(f"{spec.name} seed {seed} {epochs} ep: max_lr {lr:.4g} -> val acc "
        f"{res['val_acc']:.4f} ({time.time() - t:.0f} s)")
    return cache[key]


def refresh_suggestions(cache: Cache, rk: str, methods: Sequence[str],
                        total_steps: int | None = None) -> dict[str, Any]:
    """Every method's pick on the stored curve ``rk`` for a training of ``total_steps``,
    computed by the library as installed now (a few milliseconds), so that a changed method
    is scored on the same curves without rerunning the range tests. The cached record (the
    picks without a budget) is updated when such a pick changed."""
    from superconverge.finder import RangeTestResult

    rec = cache[rk]
    fresh = suggest_all(RangeTestResult.from_dict(rec["curve"]), methods, total_steps)
    if total_steps is None and any(rec["suggestions"].get(m) != fresh[m] for m in methods):
        cache.add({**rec, "suggestions": {**rec["suggestions"], **fresh}})
    return fresh


def steps_per_epoch(n_train: int, cfg: RunConfig) -> int:
    return math.ceil(n_train / cfg.batch_size)


def budget_plan(spec: TaskSpec, budgets: Sequence[int] | None,
                spe: int) -> list[tuple[int, int | None]]:
    """``(epochs, total_steps)`` of every budget scored. ``budgets=None``: the task's own
    epochs only, with the methods not told the budget (the benchmark before issue 19);
    otherwise each budget in epochs, the methods told its ``epochs × steps_per_epoch``
    optimizer steps as the pipeline tells them."""
    if budgets is None:
        return [(spec.epochs, None)]
    out = []
    for e in budgets:
        if int(e) < 1:
            raise ValueError(f"a budget is a positive number of epochs, got {e!r}")
        if int(e) not in [b for b, _ in out]:
            out.append((int(e), int(e) * spe))
    return out


def run_task(
    spec: TaskSpec,
    cfg: RunConfig,
    seeds: Sequence[int],
    grid: Sequence[float],
    methods: Sequence[str],
    cache: Cache,
    *,
    budgets: Sequence[int] | None = None,
    deadline: float = math.inf,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, Any]:
    """Do (or resume) all the work of one task; everything lands in ``cache``. Seed by seed:
    range test, then for each budget (:func:`budget_plan`, shortest first) the methods' picks
    for that budget and the grid, so a deadline leaves whole repetitions (paired grids: one
    range test per seed, grid runs at every budget from the same initial weights and batch
    order)."""
    fp = fingerprint(spec, cfg)
    splits = spec.load()
    spe = steps_per_epoch(len(splits.train), cfg)
    plan = budget_plan(spec, budgets, spe)
    info = {"train": len(splits.train), "val": len(splits.val),
            "input_shape": list(splits.input_shape), "num_classes": splits.num_classes,
            "fingerprint": fp, "steps_per_epoch": spe,
            "budget_fingerprints": {str(e): fingerprint(spec, cfg, e) for e, _ in plan},
            "stopped_by_deadline": False}
    for seed in seeds:
        rk = range_key(spec.name, seed, fp)
        if rk not in cache:
            if time.time() > deadline:
                info["stopped_by_deadline"] = True
                break
            t, c = time.time(), time.process_time()
            result = run_range_test(spec, splits, seed, cfg)
            cache.add({"key": rk, "kind": "range", "task": spec.name, "seed": seed,
                       "curve": result.to_dict(), "suggestions": suggest_all(result, methods),
                       "wall_s": time.time() - t, "cpu_s": time.process_time() - c,
                       "load_average": list(os.getloadavg())})
            log(f"{spec.name} seed {seed}: range test {result.summary()} "
                f"({time.time() - t:.0f} s)")
        for epochs, total_steps in plan:
            fpe = fingerprint(spec, cfg, epochs)
            sugg = refresh_suggestions(cache, rk, methods, total_steps)
            picks = [sugg[m]["max_lr"] for m in methods if sugg[m]["max_lr"] is not None]
            todo: list[float] = []
            for lr in [*picks, *grid]:
                if lr_key(lr) not in {lr_key(v) for v in todo}:
                    todo.append(lr)
            for lr in todo:
                tk = train_key(spec.name, seed, lr, fpe)
                if tk in cache:
                    continue
                if time.time() > deadline:
                    info["stopped_by_deadline"] = True
                    return info
                cached_train(cache, spec, splits, seed, lr, cfg, epochs, log)
    return info


def collect(spec: TaskSpec, cfg: RunConfig, cache: Cache, seeds: Sequence[int],
            methods: Sequence[str], epochs: int | None = None,
            total_steps: int | None = None) -> tuple:
    """``(suggestions, accs, curves, timings)`` of one task and one budget (``epochs``,
    default the task's; the methods told ``total_steps``) from the cache."""
    fp = fingerprint(spec, cfg)
    fpe = fingerprint(spec, cfg, epochs)
    suggestions, curves, accs = {}, {}, {}
    timings = {"range_wall_s": [], "train_wall_s": [], "train_cpu_s": []}
    for seed in seeds:
        rk = range_key(spec.name, seed, fp)
        if rk in cache:
            suggestions[seed] = refresh_suggestions(cache, rk, methods, total_steps)
            curves[seed] = cache[rk]["curve"]
            timings["range_wall_s"].append(cache[rk]["wall_s"])
    for rec in cache.records.values():
        if rec["kind"] == "train" and rec["key"].endswith(f"|{fpe}") and rec["seed"] in seeds:
            accs[(rec["seed"], lr_key(rec["max_lr"]))] = rec["val_acc"]
            timings["train_wall_s"].append(rec["wall_s"])
            timings["train_cpu_s"].append(rec["cpu_s"])
    return suggestions, accs, curves, timings


def best_grid_x(grid: Sequence[float], accs: Sequence[float]) -> float:
    """log10 of the best max LR on a log-spaced grid, refined by the parabola through the best
    point and its two neighbours (its vertex, kept within half a grid step of the best point;
    the edge point itself when the best is at an end): ``bounds.signal.refine_log_peak``."""
    from superconverge.bounds.signal import refine_log_peak

    return refine_log_peak(np.log10(np.asarray(grid, dtype=float)), accs)


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of ``ys`` on ``xs`` (None with fewer than 2 distinct ``xs``)."""
    xs_a, ys_a = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if xs_a.size < 2 or np.ptp(xs_a) == 0:
        return None
    return float(np.polyfit(xs_a, ys_a, 1)[0])


def budget_shift(grid: Sequence[float], by_budget: Mapping[int, Mapping[str, Any]],
                 steps: Mapping[int, int]) -> dict[str, Any]:
    """How the best grid max LR moves with the budget on one task.

    ``by_budget``: epochs → :func:`score_task` result; ``steps``: epochs → optimizer steps.
    Per seed scored at every budget: the refined best log10(max LR) (:func:`best_grid_x`) at
    each budget and the least-squares slope of it on log2(steps), i.e. decades per doubling
    of the training; their mean ± std over seeds; and the same slope of the best point of the
    seed-mean accuracy curve."""
    budgets = sorted(by_budget)
    seeds = sorted(set.intersection(*(set(by_budget[e]["per_seed"]) for e in budgets))) \
        if budgets else []
    per_seed = {}
    for s in seeds:
        xb = {e: best_grid_x(grid, by_budget[e]["per_seed"][s]["grid_acc"]) for e in budgets}
        per_seed[s] = {"best_log10_lr": {str(e): xb[e] for e in budgets},
                       "decades_per_doubling": slope([math.log2(steps[e]) for e in budgets],
                                                     [xb[e] for e in budgets])}
    mean_x = {}
    for e in budgets:
        accs = [statistics.fmean(by_budget[e]["per_seed"][s]["grid_acc"][i] for s in seeds)
                for i in range(len(grid))] if seeds else None
        mean_x[e] = None if accs is None else best_grid_x(grid, accs)
    slopes = [v["decades_per_doubling"] for v in per_seed.values()
              if v["decades_per_doubling"] is not None]
    mean_slope = (slope([math.log2(steps[e]) for e in budgets], [mean_x[e] for e in budgets])
                  if seeds else None)
    return {"budgets": budgets, "steps": {str(e): steps[e] for e in budgets}, "seeds": seeds,
            "per_seed": per_seed, "decades_per_doubling": summary_stats(slopes),
            "mean_curve_best_log10_lr": {str(e): mean_x[e] for e in budgets},
            "mean_curve_decades_per_doubling": mean_slope}


# ============================================================================ reporting
def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "–" if v is None else format(v, spec)


def _pm(st: Mapping[str, Any], spec: str = ".2f") -> str:
    if not st or st.get("mean") is None:
        return "–"
    return f"{st['mean']:{spec}} ± {st['std']:{spec}}"


def curve_facts(curve: Mapping[str, Any], sugg: Mapping[str, Any],
                total_steps: int | None = None) -> dict[str, Any]:
    """What a range-test curve looked like, from the ``auto`` analysis (for the report)."""
    from superconverge.finder import RangeTestResult

    r = RangeTestResult.from_dict(dict(curve))
    facts: dict[str, Any] = {"steps": len(r), "planned": r.num_steps, "stop": r.stop_reason,
                             "last_lr": float(r.lrs[-1])}
    try:
        s = r.suggest(method="auto", total_steps=total_steps)
        d = s.diagnostics
        facts.update({k: d.get(k) for k in ("min_loss_lr", "steepest_lr", "basin_start_lr",
                                              "rise_lr", "divergence_lr", "relative_depth")})
        facts["auto_confidence"] = s.confidence
    except Exception as exc:
        facts["auto_error"] = str(exc)
    return facts


def task_markdown(name: str, spec_desc: str, info: Mapping[str, Any], sc: Mapping[str, Any],
                  methods: Sequence[str], facts: Mapping[int, Mapping[str, Any]]) -> list[str]:
    lines = [f"## {name}", "", f"{spec_desc}. {info.get('summary', '')}", ""]
    if not sc["seeds_scored"]:
        return [*lines, "No repetition finished (range test and all grid runs): not scored.", ""]
    lines += [f"Seeds scored: {sc['seeds_scored']}.", "",
          "| method | regret pp (mean ± std) | median | failures | geo-mean max LR "
          "| log10(pick / best grid LR) |",
          "|---|---|---|---|---|---|"]
    for m in methods:
        ms = sc["methods"][m]
        kinds = ", ".join(f"{k} {v}" for k, v in ms["failure_kinds"].items())
        fail = f"{ms['failures']}/{ms['n_seeds']}" + (f" ({kinds})" if kinds else "")
        lines.append(f"| {m} | {_pm(ms['regret_pp'])} | {_fmt(ms['regret_pp']['median'])} | {fail} "
                 f"| {_fmt(ms['geomean_max_lr'], '.3g')} | {_pm(ms['decades_from_best'])} |")
    orc = sc["oracle"]
    lines.append(f"| *grid oracle (reference)* | {_pm(orc['regret_pp'])} "
                 f"| {_fmt(orc['regret_pp']['median'])} | – | {_fmt(orc['max_lr'], '.3g')} | – |")
    lines += ["", "*Grid oracle*: the grid LR with the best mean accuracy over the seeds, chosen "
              "in hindsight; its regret is the noise floor of this measure (the best of "
              f"{len(sc['grid'])} noisy runs beats a fixed good LR by chance).", ""]
    lines += ["Grid (same seeds): mean validation accuracy per max LR.", "",
          "| max LR | val acc % (mean ± std) |", "|---|---|"]
    for g in sc["grid"]:
        st = g["val_acc"]
        lines.append(f"| {g['max_lr']:.4g} | {100 * st['mean']:.2f} ± {100 * st['std']:.2f} |")
    lines += ["", "Per seed: the curve and the picks.", "",
          "| seed | range test | LR at min smoothed loss | auto's divergence LR "
          "| best grid LR (acc %) | auto pick (conf) | minimum pick | valley pick |",
          "|---|---|---|---|---|---|---|---|"]
    for seed in sc["seeds_scored"]:
        ps = sc["per_seed"][seed]
        f = facts.get(seed, {})
        rows = ps["methods"]

        def pick(m: str, rows=rows) -> str:
            r = rows.get(m)
            return "–" if not r or r["max_lr"] is None else f"{r['max_lr']:.3g}"

        auto = rows.get("auto") or {}
        lines.append(
            f"| {seed} | {f.get('steps')}/{f.get('planned')} steps, {f.get('stop')} "
            f"| {_fmt(f.get('min_loss_lr'), '.3g')} | {_fmt(f.get('divergence_lr'), '.3g')} "
            f"| {ps['best_lr']:.3g} ({100 * ps['best_acc']:.2f}) "
            f"| {pick('auto')} ({_fmt(auto.get('confidence'), '.2f')}) | {pick('minimum')} "
            f"| {pick('valley')} |"
        )
    lines += ["", task_sentence(name, sc, methods), ""]
    return lines


def task_sentence(name: str, sc: Mapping[str, Any], methods: Sequence[str]) -> str:
    ms = sc["methods"]
    if "auto" not in ms or ms["auto"]["regret_pp"]["mean"] is None:
        return f"**{name}:** auto was not scored."
    scored = sorted((v["regret_pp"]["mean"], m) for m, v in ms.items()
                    if v["regret_pp"]["mean"] is not None)
    rank = [m for _, m in scored].index("auto") + 1
    a = ms["auto"]["regret_pp"]["mean"]
    rivals = [(ms[m]["regret_pp"]["mean"], m) for m in HEURISTICS
              if m in ms and ms[m]["regret_pp"]["mean"] is not None]
    best_r = min(rivals) if rivals else None
    dec = ms["auto"]["decades_from_best"]["mean"]
    side = ("below" if dec < 0 else "above") if dec is not None else "?"
    s = (f"**{name}:** auto's mean regret is {a:.2f} pp (rank {rank} of {len(scored)}; "
         f"{'within' if a <= TARGET_PP else 'above'} the {TARGET_PP} pp target)")
    if best_r is not None:
        s += (f"; the best fastai/Lightning heuristic here is {best_r[1]} at {best_r[0]:.2f} pp, "
              f"so auto is {'lower' if a < best_r[0] else 'not lower'}")
    s += (f". Its picks lie on average {abs(dec):.2f} decade(s) {side} the best grid LR."
          if dec is not None else ".")
    return s


def plot_task(path: Path, name: str, grid: Sequence[float], sc: Mapping[str, Any],
              methods: Sequence[str], curves: Mapping[int, Mapping[str, Any]]) -> None:
    """Left: mean ± std validation accuracy vs grid max LR (log x), every method's picks
    marked at their own accuracy. Middle: each method's regret (mean ± std, failures).
    Right: the range-test losses of each seed, auto's picks and the best grid LR."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from superconverge.finder import RangeTestResult

    fig = Figure(figsize=(19, 5.5), constrained_layout=True)
    ax, ax_bar, ax2 = fig.subplots(1, 3, width_ratios=[1.2, 0.8, 1.2])
    seeds = sc["seeds_scored"]
    if seeds:
        mean = [100 * g["val_acc"]["mean"] for g in sc["grid"]]
        std = [100 * g["val_acc"]["std"] for g in sc["grid"]]
        ax.errorbar(grid, mean, yerr=std, color="black", marker="o", lw=2, capsize=3,
                    label=f"grid (mean ± std, {len(seeds)} seeds)", zorder=3)
        markers = "s^vD<>Ph*X"
        cmap = matplotlib.colormaps["tab10"]
        for k, m in enumerate(methods):
            pts = [(r["max_lr"], 100 * r["val_acc"]) for s in seeds
                   if (r := sc["per_seed"][s]["methods"][m])["val_acc"] is not None]
            if not pts:
                continue
            xs, ys = zip(*pts)
            reg = sc["methods"][m]["regret_pp"]["mean"]
            ax.scatter(xs, ys, marker=markers[k % len(markers)], s=60, color=cmap(k),
                       edgecolor="black", linewidth=0.5, zorder=4, alpha=0.85,
                       label=f"{m} (regret {reg:.2f} pp)")
        lo = min(min(mean) - 5, *(100 * r["val_acc"] for s in seeds
                                  for r in sc["per_seed"][s]["methods"].values()
                                  if r["val_acc"] is not None))
        ax.set_ylim(max(lo, min(mean) - 15, 0), max(mean) + 3)
        names = [m for m in methods if sc["methods"][m]["regret_pp"]["mean"] is not None]
        means = [sc["methods"][m]["regret_pp"]["mean"] for m in names]
        stds = [sc["methods"][m]["regret_pp"]["std"] for m in names]
        cols = [cmap(methods.index(m)) for m in names]
        ypos = np.arange(len(names))
        ax_bar.barh(ypos, means, xerr=stds, color=cols, edgecolor="black", capsize=3)
        orc = sc["oracle"]["regret_pp"]["mean"]
        if orc is not None:
            ax_bar.axvline(orc, color="gray", ls=":", label=f"grid oracle {orc:.2f} pp")
        ax_bar.axvline(TARGET_PP, color="red", ls="--", lw=1, label=f"target {TARGET_PP} pp")
        ax_bar.set_yticks(ypos, [f"{m} ({sc['methods'][m]['failures']} fail)" for m in names])
        ax_bar.invert_yaxis()
        ax_bar.legend(fontsize=8)
    ax_bar.axvline(0, color="black", lw=0.8)
    ax_bar.set_xlabel("regret vs best grid point (pp, mean ± std over seeds)")
    ax_bar.set_title("regret per method")
    ax_bar.grid(True, axis="x", alpha=0.3)
    ax.set_xscale("log")
    ax.set_xlabel("One Cycle max LR")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(f"{name}: accuracy vs max LR, methods' picks")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    cmap = matplotlib.colormaps["viridis"]
    for k, (seed, curve) in enumerate(sorted(curves.items())):
        r = RangeTestResult.from_dict(dict(curve))
        c = cmap(k / max(1, len(curves) - 1))
        ax2.plot(r.lrs, r.losses, color=c, alpha=0.35, lw=0.8)
        ax2.plot(r.lrs, r.smoothed_losses, color=c, lw=1.5, label=f"seed {seed} (EMA 0.98)")
        if seed in sc["per_seed"]:
            a = sc["per_seed"][seed]["methods"].get("auto")
            if a and a["max_lr"] is not None:
                ax2.axvline(a["max_lr"], color=c, ls="--", lw=1)
            ax2.axvline(sc["per_seed"][seed]["best_lr"], color=c, ls=":", lw=1.5)
    ax2.set_xscale("log")
    finite = [v for c in curves.values() for v in RangeTestResult.from_dict(dict(c)).losses
              if math.isfinite(v)]
    if finite:
        ax2.set_ylim(0, min(max(finite), 3 * float(np.median(finite))))
    ax2.set_xlabel("learning rate (range test)")
    ax2.set_ylabel("training loss")
    ax2.set_title("range tests: raw / smoothed loss; -- auto pick, : best grid LR")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8)
    fig.savefig(path, dpi=110)


def plot_budgets(path: Path, grid: Sequence[float],
                 tasks: Mapping[str, Mapping[str, Any]]) -> None:
    """One panel per task: seed-mean validation accuracy against the grid max LR at each
    budget (± std), the refined best LR of the mean curve (dotted) and auto's picks at that
    budget (crosses, at their own accuracy)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    names = [t for t, v in tasks.items() if len(v["budgets"]) > 1]
    if not names:
        return
    fig = Figure(figsize=(6 * len(names), 4.8), constrained_layout=True)
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    cmap = matplotlib.colormaps["viridis"]
    for ax, t in zip(axes, names):
        budgets = tasks[t]["budgets"]
        shift = tasks[t]["best_lr_shift"] or {}
        for k, (e, v) in enumerate(budgets.items()):
            sc = v["score"]
            if not sc["seeds_scored"]:
                continue
            c = cmap(k / max(1, len(budgets) - 1))
            mean = [100 * g["val_acc"]["mean"] for g in sc["grid"]]
            std = [100 * g["val_acc"]["std"] for g in sc["grid"]]
            ax.errorbar(grid, mean, yerr=std, color=c, marker="o", capsize=3,
                        label=f"{e} epochs ({v['total_steps']} steps)")
            xb = (shift.get("mean_curve_best_log10_lr") or {}).get(e)
            if xb is not None:
                ax.axvline(10**xb, color=c, ls=":", lw=1.5)
            pts = [(r["max_lr"], 100 * r["val_acc"]) for s in sc["seeds_scored"]
                   if (r := sc["per_seed"][s]["methods"].get("auto") or {}).get("val_acc")
                   is not None]
            if pts:
                ax.scatter(*zip(*pts), marker="x", s=60, color=c, zorder=4)
        top = max(100 * g["val_acc"]["mean"] for v in budgets.values()
                  for g in v["score"]["grid"] if v["score"]["seeds_scored"])
        ax.set_ylim(top - 12, min(100.0, top + 1.5))
        ax.set_xscale("log")
        ax.set_xlabel("One Cycle max LR")
        ax.set_ylabel("validation accuracy (%)")
        ax.set_title(f"{t} (x: auto's picks; dotted: best LR of the mean curve)", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="lower center")
    fig.savefig(path, dpi=110)


# ============================================================================ driver
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--tasks", nargs="+",
                   default=["fmnist_cnn", "mnist1d_cnn", "fmnist_mlp", "mnist1d_mlp"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--methods", nargs="+", default=None, help="default: every registered one")
    p.add_argument("--grid-min", type=float, default=3e-3)
    p.add_argument("--grid-max", type=float, default=3.0)
    p.add_argument("--grid-points", type=int, default=10, help="log-spaced, ends included")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--range-start", type=float, default=1e-4)
    p.add_argument("--range-end", type=float, default=10.0)
    p.add_argument("--range-steps", type=int, default=None, help="default: one epoch")
    p.add_argument("--range-val-batches", type=int, default=4)
    p.add_argument("--data-seed", type=int, default=0,
                   help="validation hold-out / training subset seed (same for every repetition)")
    p.add_argument("--fmnist-train", type=int, default=12800)
    p.add_argument("--fmnist-epochs", type=int, default=2)
    p.add_argument("--mnist1d-samples", type=int, default=20000,
                   help="generated MNIST-1D examples (80%% train pool, 20%% test)")
    p.add_argument("--mnist1d-val", type=float, default=0.2)
    p.add_argument("--mnist1d-train", type=int, default=12800)
    p.add_argument("--mnist1d-epochs", type=int, default=4)
    p.add_argument("--budgets", nargs="+", type=int, default=[2, 4, 8],
                   help="training budgets in epochs of each task, scored on paired grids")
    p.add_argument("--task-epochs", action="store_true",
                   help="score only each task's own --fmnist-epochs / --mnist1d-epochs, the "
                        "methods not told the budget (the single-budget benchmark before "
                        "issue 19; with --momentum-recipe cycled it reuses those runs)")
    p.add_argument("--momentum-recipe", choices=MOMENTUM_RECIPES, default="nesterov",
                   help="nesterov: constant Nesterov 0.9 (the pipeline's default); cycled: "
                        "plain 0.9 in the range test, OneCycle's 0.95->0.85 in training")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd",
                   help="adam: Adam with beta_1 = 0.9 in the range test and in training")
    p.add_argument("--backend", default="tensorflow")
    p.add_argument("--jobs", type=int, default=2, help="tasks run in parallel subprocesses")
    p.add_argument("--max-minutes", type=float, default=55.0,
                   help="no new run starts after this; finished repetitions are reported")
    p.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--out-dir", type=Path, default=HERE / "results",
                   help="where the JSON, Markdown and plots go")
    p.add_argument("--aggregate-only", action="store_true",
                   help="write the results from the cache without training")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--deadline", type=float, default=math.inf, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def run_config(args: argparse.Namespace) -> RunConfig:
    return RunConfig(batch_size=args.batch_size, range_start=args.range_start,
                     range_end=args.range_end, range_steps=args.range_steps,
                     range_val_batches=args.range_val_batches,
                     momentum_recipe=args.momentum_recipe, optimizer=args.optimizer)


def budgets_of(args: argparse.Namespace) -> list[int] | None:
    return None if args.task_epochs else list(args.budgets)


def all_methods(args: argparse.Namespace) -> list[str]:
    from superconverge.bounds import available_methods

    return list(args.methods or available_methods())


def grid_of(args: argparse.Namespace) -> list[float]:
    return log_grid(args.grid_min, args.grid_max, args.grid_points)


def worker(args: argparse.Namespace) -> None:
    (task,) = args.tasks
    spec = make_tasks(args)[task]
    cache = Cache(args.cache_dir / f"{task}.jsonl")
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    logf = open(args.cache_dir / f"{task}.log", "a", encoding="utf-8")

    def log(msg: str) -> None:
        logf.write(f"{time.strftime('%H:%M:%S')} {msg}\n")
        logf.flush()

    log(f"start {task} (backend {os.environ.get('KERAS_BACKEND')}, seeds {args.seeds})")
    info = run_task(spec, run_config(args), args.seeds, grid_of(args), all_methods(args), cache,
                    budgets=budgets_of(args), deadline=args.deadline, log=log)
    log(f"done {task}: {info}")
    print(json.dumps(info))


def _worker_argv(args: argparse.Namespace, task: str, deadline: float) -> list[str]:
    out = ["--tasks", task, "--seeds", *map(str, args.seeds), "--deadline", repr(deadline)]
    for flag in ("grid_min", "grid_max", "grid_points", "batch_size", "range_start", "range_end",
                 "range_steps", "range_val_batches", "data_seed", "fmnist_train",
                 "fmnist_epochs", "mnist1d_samples", "mnist1d_val", "mnist1d_train",
                 "mnist1d_epochs", "cache_dir", "momentum_recipe", "optimizer"):
        v = getattr(args, flag)
        if v is not None:
            out += [f"--{flag.replace('_', '-')}", str(v)]
    out += ["--task-epochs"] if args.task_epochs else ["--budgets", *map(str, args.budgets)]
    if args.methods:
        out += ["--methods", *args.methods]
    return out


def versions(backend: str) -> dict[str, Any]:
    import importlib.metadata as md

    out = {"backend": backend}
    for pkg in ("keras", "tensorflow", "tensorflow-cpu", "jax", "torch", "numpy", "scipy",
                "mnist1d", "superconverge"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces ``args`` (flags that differ from the defaults)."""
    defaults = vars(parse_args([]))
    parts = ["python benchmarks/lr_selection.py"]
    for k, v in vars(args).items():
        if k in ("worker", "deadline", "aggregate_only") or v == defaults.get(k):
            continue
        flag = "--" + k.replace("_", "-")
        if isinstance(v, bool):
            parts.append(flag)
        elif isinstance(v, list):
            parts.append(f"{flag} {' '.join(map(str, v))}")
        else:
            parts.append(f"{flag} {v}")
    return " ".join(parts)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return
    from concurrent.futures import ThreadPoolExecutor

    from common import run_worker, system_info, write_results

    t0 = time.time()
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    deadline = t0 + 60 * args.max_minutes
    errors: dict[str, str] = {}
    infos: dict[str, Any] = {}
    if not args.aggregate_only:
        def one(task: str) -> None:
            try:
                infos[task] = run_worker(Path(__file__), args.backend,
                                         _worker_argv(args, task, deadline), timeout=6 * 3600)
            except Exception as exc:  # report it; finished runs are in the cache
                errors[task] = str(exc)[-2000:]
                print(f"task {task} failed: {exc}", file=sys.stderr)

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            list(pool.map(one, args.tasks))
    wall = time.time() - t0
    command = command_line(args)
    if args.aggregate_only:  # keep the wall time and command of the run that did the work
        prev = args.out_dir / f"{NAME}.json"
        if prev.exists():
            old = json.loads(prev.read_text(encoding="utf-8"))
            real = None if old.get("aggregate_only") else old.get("wall_time_s")
            wall = float(old.get("run_wall_time_s") or real or wall)

    # ---- aggregate from the cache (works after a crash too)
    os.environ.setdefault("KERAS_BACKEND", args.backend)
    specs = make_tasks(args)
    cfg = run_config(args)
    grid = grid_of(args)
    methods = all_methods(args)
    budgets = budgets_of(args)
    payload_tasks: dict[str, Any] = {}
    scores: dict[str, dict[str, Any]] = {}  # budget label -> task -> score_task(...)
    work_s = 0.0  # wall time of every cached range test and training run, whenever it ran
    md_tasks: list[str] = []
    for task in args.tasks:
        spec = specs[task]
        cache = Cache(args.cache_dir / f"{task}.jsonl")
        task_info = infos.get(task) or {}
        if "train" not in task_info:  # aggregation only: the sizes come from the data itself
            splits = spec.load()
            task_info = {"train": len(splits.train), "val": len(splits.val),
                         "input_shape": list(splits.input_shape),
                         "num_classes": splits.num_classes, "fingerprint": fingerprint(spec, cfg)}
        spe = steps_per_epoch(task_info["train"], cfg)
        per_budget: dict[int, Any] = {}
        curves: dict[int, Any] = {}
        range_wall: list[float] = []
        for epochs, told in budget_plan(spec, budgets, spe):
            sugg, accs, curves, timings = collect(spec, cfg, cache, args.seeds, methods,
                                                  epochs, told)
            sc = score_task(args.seeds, grid, methods, sugg, accs)
            tw = timings["train_wall_s"]
            work_s += sum(tw)
            range_wall = timings["range_wall_s"]
            label = budget_label(epochs, budgets)
            scores.setdefault(label, {})[task] = sc
            per_budget[epochs] = {
                "label": label, "epochs": epochs, "total_steps": epochs * spe,
                "steps_told_to_methods": told, "score": sc,
                "curve_facts": {s: curve_facts(curves[s], sugg[s], told) for s in curves},
                "timing": {"train_wall_s": summary_stats(tw),
                           "train_cpu_s": summary_stats(timings["train_cpu_s"]),
                           "train_runs": len(tw)}}
        work_s += sum(range_wall)
        shift = (budget_shift(grid, {e: v["score"] for e, v in per_budget.items()},
                              {e: v["total_steps"] for e, v in per_budget.items()})
                 if len(per_budget) > 1 else None)
        info = {**task_info, "steps_per_epoch": spe, "epochs": sorted(per_budget),
                "config": dict(spec.config),
                "timing": {"range_wall_s": summary_stats(range_wall)}}
        range_steps = args.range_steps or spe
        info["summary"] = (
            f"{info['train']} training / {info['val']} validation examples, {spe} steps of "
            f"batch {args.batch_size} per epoch; range test {args.range_start:g}→"
            f"{args.range_end:g} over {range_steps} steps.")
        payload_tasks[task] = {"description": spec.description, "info": info,
                               "budgets": {str(e): v for e, v in per_budget.items()},
                               "best_lr_shift": shift, "curves": curves,
                               "error": errors.get(task)}
        for e, v in per_budget.items():
            med = v["timing"]["train_wall_s"]["median"]
            head = (f"{info['summary']} Budget {e} epochs = {v['total_steps']} steps"
                    + ("" if v["steps_told_to_methods"] is None
                       else " (told to the methods as total_steps)")
                    + f"; one training run took {_fmt(med, '.0f')} s wall (median).")
            md_tasks += task_markdown(f"{task}, {e} epochs", spec.description, {"summary": head},
                                      v["score"], methods, v["curve_facts"])
            if not args.no_plots:
                suffix = "" if budgets is None else f"_{e}ep"
                path = args.out_dir / f"{NAME}_{task}{suffix}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                plot_task(path, f"{task}, {e} epochs", grid, v["score"], methods, curves)
    if not args.no_plots and budgets is not None:
        plot_budgets(args.out_dir / f"{NAME}_budgets.png", grid, payload_tasks)
    by_budget = {}
    for label, task_scores in scores.items():
        over = overall(task_scores, methods)
        by_budget[label] = {"overall": over, "target": verdict(over, methods)}
    verdicts = [b["target"] for b in by_budget.values()]
    target = (verdicts[0] if len(verdicts) == 1 else
              {"met": bool(verdicts) and all(v.get("met") for v in verdicts),
               "per_budget": {k: b["target"] for k, b in by_budget.items()}})
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                if k not in ("worker", "deadline", "aggregate_only")}
    system = system_info()
    loads = [rec.get("load_average") for task in args.tasks
             for rec in Cache(args.cache_dir / f"{task}.jsonl").records.values()
             if rec.get("load_average")]
    recipe = (RECIPE_TEXT[cfg.momentum_recipe] if cfg.optimizer == "sgd" else
              "Adam (β1 = 0.9, constant) in the range test and in training")
    payload = {
        "benchmark": NAME,
        "definition": {
            "regret_pp": "100 × (best grid-point val accuracy − val accuracy at the method's "
                         "max LR), paired per seed (same init and batch order) and per budget",
            "failure": "the method raised, returned confidence 0, or returned a max LR at or "
                       "beyond the edge of the LR range actually swept (clamped)",
            "failed_but_returned_lr": "trained and counted in the regret",
            "raised": "no LR, no regret for that seed; counted as failure",
            "training": recipe + "; OneCycle Smith preset, min LR = max LR / 10; the method's "
                        "own min LR is not used",
            "budget": "epochs of One Cycle training; one range test per seed serves every "
                      "budget; the methods are told the budget's optimizer steps "
                      "(suggest(total_steps=...)) unless steps_told_to_methods is null",
            "best_lr_shift": "per seed, the best grid log10(max LR) refined by a parabola "
                             "through the best point and its neighbours, regressed on "
                             "log2(training steps): decades per doubling of the budget",
            "accuracy": "validation split; the test split is never used",
        },
        "settings": settings, "grid": grid, "methods": methods, "run_config": cfg.to_dict(),
        "versions": versions(args.backend), "system": system,
        "machine": "shared with other long jobs (2 CPUs): accuracy only, no timing claims",
        "load_average_per_run": summary_stats([v[0] for v in loads]),
        "wall_time_s": wall, "run_wall_time_s": wall, "work_wall_time_s": work_s,
        "command": command,
        "aggregate_only": args.aggregate_only,
        "budgets": by_budget,
        "tasks": payload_tasks, "target": target, "errors": errors,
    }
    if len(by_budget) == 1:
        payload["overall"] = next(iter(by_budget.values()))["overall"]
    load_st = payload["load_average_per_run"]
    md = ["# LR selection: regret of each bounds method against a max-LR grid", "",
          "Each method reads its max LR off an LR range test; a One Cycle run with that "
          "max LR is compared with the same run at every point of a log-spaced grid, on the "
          "validation split, with the same seed (initial weights and batch order), at each "
          "training budget (one range test per seed, paired grids at every budget). Regret = "
          "best grid accuracy − method accuracy, in percentage points (negative: better than "
          "every grid point). Failure = the method raised, returned confidence 0, or picked at/"
          "beyond the edge of the swept LR range (such picks are still trained and scored).",
          "",
          f"Backend {args.backend}; seeds {args.seeds}; grid {len(grid)} max LRs "
          f"{grid[0]:g}…{grid[-1]:g} (log-spaced); batch {args.batch_size}; {recipe}, "
          f"OneCycle (Smith preset, min = max/10); range test {args.range_start:g}→"
          f"{args.range_end:g}, {args.range_steps or 'one epoch of'} steps, diverge 4, "
          f"{args.range_val_batches} validation batches for `accuracy`; budgets "
          + (", ".join(f"{b} epochs" for b in budgets) + " (the methods are told the "
             "budget's steps, `suggest(total_steps=...)`)" if budgets is not None
             else "each task's own epochs (the methods are not told)")
          + f". The range tests and training runs behind these numbers took "
          f"{work_s / 60:.0f} min of wall time in all (this invocation {wall / 60:.1f} min; "
          "finished runs come from the cache, and a changed method is re-asked on the stored "
          f"curves). The machine ({system['cpus']} CPUs) was **shared** with other long jobs "
          f"(1-minute load average {_fmt(load_st['mean'], '.1f')} on average over the runs, "
          f"{system['load_average'][0]:.1f} at the end): the figures are accuracies, not "
          f"timings. Command: `{command}`.", ""]
    md += budget_markdown(by_budget, scores, methods)
    shifts = {t: v["best_lr_shift"] for t, v in payload_tasks.items() if v["best_lr_shift"]}
    if shifts:
        md += shift_markdown(shifts)
    if errors:
        md += ["", "Errors: " + "; ".join(f"{t}: {e.splitlines()[-1] if e else ''}"
                                          for t, e in errors.items())]
    md += ["", *md_tasks]
    write_results(NAME, payload, md, args.out_dir)
    print("\n".join(md[: 14 + len(methods)]))


RECIPE_TEXT = {
    "nesterov": "SGD with constant Nesterov momentum 0.9 in the range test and in training "
                "(the pipeline's default recipe)",
    "cycled": "SGD momentum 0.9 in the range test, cycled 0.95→0.85 by OneCycle in training",
}


def budget_label(epochs: int, budgets: Sequence[int] | None) -> str:
    return "task epochs" if budgets is None else f"{epochs} epochs"


def budget_markdown(by_budget: Mapping[str, Any], scores: Mapping[str, Mapping[str, Any]],
                    methods: Sequence[str]) -> list[str]:
    """The overall table (pooled regret of every method at every budget), the targets, and
    the per-task means."""
    labels = list(by_budget)
    md = ["## Overall: mean regret (pp) by budget, pooled over tasks and seeds", "",
          "| method | " + " | ".join(labels) + " | failures |",
          "|---|" + "---|" * (len(labels) + 1)]
    for m in methods:
        cells = [_pm(by_budget[b]["overall"][m]["regret_pp"]) for b in labels]
        fails = sum(by_budget[b]["overall"][m]["failures"] for b in labels)
        curves = sum(by_budget[b]["overall"][m]["curves"] for b in labels)
        md.append(f"| {m} | " + " | ".join(cells) + f" | {fails}/{curves} |")
    md.append("| *grid oracle (reference)* | "
              + " | ".join(_pm(by_budget[b]["overall"]["_oracle"]["regret_pp"]) for b in labels)
              + " | – |")
    md += ["", f"**Targets** (auto ≤ {TARGET_PP} pp and below every fastai/Lightning "
           "heuristic, at every budget):", ""]
    for b in labels:
        v = by_budget[b]["target"]
        if v.get("auto_mean_regret_pp") is None:
            md.append(f"- {b}: auto not scored.")
            continue
        md.append(
            f"- {b}: {'met' if v['met'] else 'missed'} — auto {v['auto_mean_regret_pp']:.2f} pp "
            f"({'within' if v['within_target'] else 'above'} {TARGET_PP} pp); lower than "
            + ", ".join(f"{m} {'yes' if x else 'no'}" for m, x in v["beats"].items()) + ".")
    tasks = sorted({t for sc in scores.values() for t in sc})
    md += ["", "Per task and budget: mean regret (pp) over the seeds.", "",
           "| task | budget | " + " | ".join(methods) + " | oracle |",
           "|---|---|" + "---|" * (len(methods) + 1)]
    for t in tasks:
        for b in labels:
            sc = scores[b].get(t)
            if sc is None:
                continue
            cells = [_fmt(sc["methods"][m]["regret_pp"]["mean"]) for m in methods]
            md.append(f"| {t} | {b} | " + " | ".join(cells)
                      + f" | {_fmt(sc['oracle']['regret_pp']['mean'])} |")
    return [*md, ""]


def shift_markdown(shifts: Mapping[str, Mapping[str, Any]]) -> list[str]:
    md = ["## How the best max LR moves with the budget", "",
          "Best grid max LR per seed (log10, refined by the parabola through the best grid "
          "point and its neighbours), and its least-squares slope on log2(training steps): "
          "decades per doubling of the budget.", "",
          "| task | seed | " + " | ".join(f"{e} ep" for e in next(iter(shifts.values()))["budgets"])
          + " | decades per doubling |",
          "|---|---|" + "---|" * (len(next(iter(shifts.values()))["budgets"]) + 1)]
    for t, sh in shifts.items():
        for s, row in sh["per_seed"].items():
            cells = [f"{10 ** row['best_log10_lr'][str(e)]:.3g}" for e in sh["budgets"]]
            md.append(f"| {t} | {s} | " + " | ".join(cells)
                      + f" | {_fmt(row['decades_per_doubling'], '+.3f')} |")
        cells = [_fmt(None if sh["mean_curve_best_log10_lr"][str(e)] is None
                      else 10 ** sh["mean_curve_best_log10_lr"][str(e)], ".3g")
                 for e in sh["budgets"]]
        md.append(f"| {t} | seed-mean curve | " + " | ".join(cells)
                  + f" | {_fmt(sh['mean_curve_decades_per_doubling'], '+.3f')} |")
        st = sh["decades_per_doubling"]
        blanks = " | ".join("" for _ in sh["budgets"])
        md.append(f"| {t} | per-seed slopes, mean ± std | {blanks} | {_pm(st, '+.3f')} |")
    return [*md, ""]


if __name__ == "__main__":
    main()
