"""Peers venv: the PyTorch recipes of the peers benchmark, each with its tool's own defaults.

* ``fastai``: ``Learner(dls, net, loss_func=CrossEntropyLoss(), metrics=accuracy)`` (fastai's
  default optimizer ``Adam`` with its default ``wd = 0.01``, decoupled, not on BN/bias),
  ``lr_find()`` (defaults: 1e-7 → 10, 100 iterations) → its default suggestion ``valley`` →
  ``fit_one_cycle(E, lr_max=valley)`` (defaults: ``pct_start 0.25``, ``div 25``,
  ``div_final 1e5``, momentum 0.95 → 0.85 → 0.95). Data through
  ``DataLoaders.from_dsets`` (fastai's default: training batches shuffled, last partial
  batch dropped).
* ``torch_onecycle``: ``torch_lr_finder.LRFinder`` with ``SGD(lr=1e-7, momentum=0.9)``,
  ``range_test`` with its defaults (``end_lr 10``, 100 iterations, exponential), its
  steepest-gradient suggestion (``plot(suggest_lr=True)``: ``skip_start 10, skip_end 5``) →
  a fresh net (same seed) with ``SGD(momentum=0.9)`` and
  ``OneCycleLR(max_lr=suggestion, total_steps=E·steps)`` with its defaults (``pct_start 0.3``,
  cosine, momentum 0.95 → 0.85, ``div_factor 25``, ``final_div_factor 1e4``), stepped per
  batch. PyTorch's ``DataLoader(shuffle=True)``.
* ``schedulefree_sgd``: ``schedulefree.SGDScheduleFree`` with its defaults (``lr 1.0``,
  ``momentum 0.9``, ``weight_decay 0``) and a linear warm-up over 5% of the steps (its README
  recommends warm-up and gives no length). No LR finder exists for it. ``optimizer.train()``
  / ``optimizer.eval()`` around training and evaluation; before every evaluation the BN
  statistics are recomputed at the evaluation weights ``x`` (the README's recipe, with the
  running averages reset and cumulative — PyTorch's ``momentum=None`` — over 50 training
  batches, so that the estimate is not dominated by the old statistics at BN momentum 0.01).

Every recipe validates once per epoch (as fastai does by default) and tests once at the end.
Wall time per epoch = training time of the ``E`` epochs (validation included) / ``E``; the LR
finder's time is reported separately.

    PYTHONPATH=. benchmarks/peers/.venv/bin/python benchmarks/peers/torch_side.py \\
        [--recipes ...] [--budgets 2 4 8] [--seeds 0 1 2] [--train-subset N] [--out-dir DIR]
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers_common import (
    BATCH_SIZE,
    SPLIT_FILE,
    STEP_COUNT,
    STEP_REPEATS,
    STEP_WARMUP,
    measure_step_time,
    run_plan,
    seed_everything,
    worker_args,
)
from torch_net import SimpleCNN, param_counts

PARAMS_FILE = "keras_simple_cnn.json"
SCHEDULEFREE_WARMUP_FRACTION = 0.05
BN_RECOMPUTE_BATCHES = 50  # schedulefree README


def versions() -> dict[str, str]:
    from importlib.metadata import version

    import fastai

    return {"torch": torch.__version__, "fastai": fastai.__version__,
            "torch-lr-finder": version("torch-lr-finder"),
            "schedulefree": version("schedulefree"), "numpy": np.__version__,
            "python": sys.version.split()[0], "torch_threads": str(torch.get_num_threads())}


def check_param_count(split_file: Path) -> dict[str, int]:
    """The PyTorch net has the Keras model's parameter counts (written by split.py)."""
    mine = param_counts(SimpleCNN())
    keras_file = Path(split_file).parent / PARAMS_FILE
    keras = json.loads(keras_file.read_text())
    for key in ("total", "trainable", "non_trainable"):
        if mine[key] != keras[key]:
            raise SystemExit(f"PyTorch simple_cnn has {mine[key]} {key} parameters, the Keras "
                             f"model {keras[key]} ({keras_file}): the twins differ")
    return mine


def tensors(x: np.ndarray, y: np.ndarray) -> TensorDataset:
    # NHWC -> NCHW
    return TensorDataset(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))),
                         torch.from_numpy(y.astype(np.int64)))


def loader(ds: TensorDataset, *, shuffle: bool, seed: int = 0) -> DataLoader:
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=BATCH_SIZE, shuffle=shuffle, generator=gen)


@torch.no_grad()
def evaluate(model: nn.Module, ds: TensorDataset) -> tuple[float, float]:
    model.eval()
    x, y = ds.tensors
    loss, correct = 0.0, 0
    for i in range(0, len(y), 512):
        logits = model(x[i:i + 512])
        loss += float(nn.functional.cross_entropy(logits, y[i:i + 512], reduction="sum"))
        correct += int((logits.argmax(1) == y[i:i + 512]).sum())
    return loss / len(y), correct / len(y)


def new_net(seed: int) -> SimpleCNN:
    torch.manual_seed(seed)
    return SimpleCNN()


# ------------------------------------------------------------------------------------ fastai
def train_fastai(epochs: int, seed: int, data: dict[str, Any]) -> dict[str, Any]:
    from fastai.callback.schedule import valley  # noqa: F401  (adds lr_find/fit_one_cycle)
    from fastai.data.core import DataLoaders
    from fastai.learner import Learner
    from fastai.metrics import accuracy
    from fastai.torch_core import set_seed

    set_seed(seed, reproducible=True)
    train_ds = tensors(data["x_train"], data["y_train"])
    val_ds = tensors(data["x_val"], data["y_val"])
    dls = DataLoaders.from_dsets(train_ds, val_ds, bs=BATCH_SIZE, device=torch.device("cpu"))
    learn = Learner(dls, new_net(seed), loss_func=nn.CrossEntropyLoss(), metrics=accuracy)
    started = time.perf_counter()
    with learn.no_bar(), learn.no_logging(), contextlib.redirect_stdout(io.StringIO()):
        suggestion = learn.lr_find(show_plot=False)
    finder_seconds = time.perf_counter() - started
    lr_max = float(suggestion.valley)
    started = time.perf_counter()
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(epochs, lr_max=lr_max)
    train_seconds = time.perf_counter() - started
    values = [list(map(float, v)) for v in learn.recorder.values]  # train loss, val loss, acc
    hypers = {k: float(v) for k, v in learn.opt.hypers[0].items()
              if k in ("wd", "eps", "sqr_mom")}
    hypers["decouple_wd"] = any(getattr(cb, "__name__", "") == "weight_decay"
                                for cb in learn.opt.cbs)
    test_loss, test_acc = evaluate(learn.model, tensors(data["x_test"], data["y_test"]))
    return {
        "test_accuracy": test_acc, "test_loss": test_loss,
        "val_accuracy": values[-1][2], "val_accuracy_per_epoch": [v[2] for v in values],
        "train_loss_per_epoch": [v[0] for v in values],
        "lr": lr_max, "lr_finder_seconds": finder_seconds, "train_seconds": train_seconds,
        "seconds_per_epoch": train_seconds / epochs,
        "settings": {
            "lr_finder": "Learner.lr_find() defaults (start_lr 1e-7, end_lr 10, num_it 100)",
            "suggestion": "valley (fastai's default)",
            "optimizer": f"fastai default {learn.opt_func.__name__}; hyper-parameters of the "
                         f"first parameter group after training: {hypers} (Learner wd=None "
                         f"keeps Adam's wd; wd_bn_bias={learn.wd_bn_bias})",
            "schedule": "fit_one_cycle defaults: pct_start 0.25, div 25, div_final 1e5, "
                        "moms (0.95, 0.85, 0.95)",
            "data": f"DataLoaders.from_dsets defaults: train shuffled, drop_last="
                    f"{dls.train.drop_last}, num_workers={dls.train.num_workers}",
            "loss": "CrossEntropyLoss",
        },
    }


# ------------------------------------------------------------------------- torch-lr-finder
def steepest_suggestion(finder: Any) -> float:
    """``LRFinder.plot(suggest_lr=True)``'s suggestion (steepest loss gradient)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with contextlib.redirect_stdout(io.StringIO()):
        ax, lr = finder.plot(suggest_lr=True)
    plt.close(ax.figure)
    return float(lr)


def fit_epochs(model: nn.Module, optimizer: Any, train: DataLoader, val_ds: TensorDataset,
               epochs: int, *, scheduler: Any = None, before_eval: Any = None,
               after_eval: Any = None) -> dict[str, Any]:
    criterion = nn.CrossEntropyLoss()
    val_acc, train_loss = [], []
    started = time.perf_counter()
    for _ in range(epochs):
        model.train()
        total, n = 0.0, 0
        for x, y in train:
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += loss.item() * len(y)
            n += len(y)
        train_loss.append(total / n)
        if before_eval is not None:
            before_eval()
        val_acc.append(evaluate(model, val_ds)[1])
        if after_eval is not None:
            after_eval()
    return {"train_seconds": time.perf_counter() - started, "val_accuracy_per_epoch": val_acc,
            "train_loss_per_epoch": train_loss}


def train_torch_onecycle(epochs: int, seed: int, data: dict[str, Any]) -> dict[str, Any]:
    from torch_lr_finder import LRFinder

    seed_everything(seed, [torch.manual_seed])
    train_ds = tensors(data["x_train"], data["y_train"])
    val_ds = tensors(data["x_val"], data["y_val"])
    started = time.perf_counter()
    net = new_net(seed)
    finder = LRFinder(net, torch.optim.SGD(net.parameters(), lr=1e-7, momentum=0.9),
                      nn.CrossEntropyLoss(), device="cpu")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        finder.range_test(loader(train_ds, shuffle=True, seed=seed))
    max_lr = steepest_suggestion(finder)
    finder.reset()
    finder_seconds = time.perf_counter() - started

    net = new_net(seed)
    train = loader(train_ds, shuffle=True, seed=seed)
    optimizer = torch.optim.SGD(net.parameters(), lr=max_lr, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr,
                                                    total_steps=epochs * len(train))
    fit = fit_epochs(net, optimizer, train, val_ds, epochs, scheduler=scheduler)
    test_loss, test_acc = evaluate(net, tensors(data["x_test"], data["y_test"]))
    return {
        "test_accuracy": test_acc, "test_loss": test_loss,
        "val_accuracy": fit["val_accuracy_per_epoch"][-1], **fit,
        "lr": max_lr, "lr_finder_seconds": finder_seconds,
        "seconds_per_epoch": fit["train_seconds"] / epochs,
        "settings": {
            "lr_finder": "torch_lr_finder.LRFinder, SGD(lr=1e-7, momentum=0.9), range_test "
                         "defaults (end_lr 10, num_iter 100, step_mode exp, smooth_f 0.05, "
                         "diverge_th 5)",
            "suggestion": "steepest gradient, plot(suggest_lr=True) (skip_start 10, "
                          "skip_end 5)",
            "optimizer": "torch.optim.SGD(momentum=0.9), weight_decay 0 (default)",
            "schedule": "OneCycleLR(max_lr=suggestion, total_steps=E*steps) defaults: "
                        "pct_start 0.3, cos, momentum 0.95 -> 0.85, div_factor 25, "
                        "final_div_factor 1e4; stepped per batch",
            "data": "DataLoader(batch_size=128, shuffle=True)",
            "loss": "CrossEntropyLoss",
        },
    }


# ---------------------------------------------------------------------------- schedule-free
@torch.no_grad()
def recompute_bn(model: nn.Module, train: DataLoader, batches: int = BN_RECOMPUTE_BATCHES
                 ) -> None:
    """BN statistics at the current weights: reset, cumulative average over ``batches``."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    for x, _ in itertools.islice(train, batches):
        model(x)
    for m, momentum in zip(bns, saved, strict=True):
        m.momentum = momentum
    model.eval()


def train_schedulefree_sgd(epochs: int, seed: int, data: dict[str, Any]) -> dict[str, Any]:
    import schedulefree

    seed_everything(seed, [torch.manual_seed])
    train_ds = tensors(data["x_train"], data["y_train"])
    val_ds = tensors(data["x_val"], data["y_val"])
    net = new_net(seed)
    train = loader(train_ds, shuffle=True, seed=seed)
    warmup = round(SCHEDULEFREE_WARMUP_FRACTION * epochs * len(train))
    optimizer = schedulefree.SGDScheduleFree(net.parameters(), warmup_steps=warmup)
    bn_loader = loader(train_ds, shuffle=True, seed=seed + 10_000)

    def before_eval() -> None:
        optimizer.eval()
        recompute_bn(net, bn_loader)

    optimizer.train()
    fit = fit_epochs(net, optimizer, train, val_ds, epochs, before_eval=before_eval,
                     after_eval=optimizer.train)
    before_eval()  # the evaluation weights x and their BN statistics
    test_loss, test_acc = evaluate(net, tensors(data["x_test"], data["y_test"]))
    group = optimizer.param_groups[0]
    return {
        "test_accuracy": test_acc, "test_loss": test_loss,
        "val_accuracy": fit["val_accuracy_per_epoch"][-1], **fit,
        "lr": float(group["lr"]), "lr_finder_seconds": 0.0,
        "seconds_per_epoch": fit["train_seconds"] / epochs,
        "settings": {
            "lr_finder": "none (schedulefree has none)",
            "optimizer": f"schedulefree.SGDScheduleFree defaults: lr {group['lr']}, momentum "
                         f"{group['momentum']}, weight_decay {group['weight_decay']}, r "
                         f"{group['r']}, weight_lr_power {group['weight_lr_power']}",
            "warmup_steps": f"{warmup} ({SCHEDULEFREE_WARMUP_FRACTION:.0%} of the steps; "
                            "README: warm-up recommended, no length given)",
            "evaluation": "optimizer.eval(), BN statistics recomputed (reset, cumulative) "
                          f"over {BN_RECOMPUTE_BATCHES} training batches, model.eval()",
            "data": "DataLoader(batch_size=128, shuffle=True)",
            "loss": "CrossEntropyLoss",
        },
    }


def torch_step_times(data: dict[str, Any]) -> list[float]:
    """Seconds of ``STEP_REPEATS`` × ``STEP_COUNT`` training steps of a plain PyTorch loop
    (``DataLoader(shuffle=True)``), SGD momentum 0.9; the Keras side measures the same."""
    net = new_net(0)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    criterion = nn.CrossEntropyLoss()
    train = loader(tensors(data["x_train"], data["y_train"]), shuffle=True)

    def forever() -> Any:
        while True:
            yield from train  # a fresh pass (and shuffle) each time, like Keras' epochs

    batches = forever()
    net.train()

    def steps(n: int) -> None:
        for x, y in itertools.islice(batches, n):
            optimizer.zero_grad(set_to_none=True)
            criterion(net(x), y).backward()
            optimizer.step()

    steps(STEP_WARMUP)
    out = []
    for _ in range(STEP_REPEATS):
        started = time.perf_counter()
        steps(STEP_COUNT)
        out.append(time.perf_counter() - started)
    return out


TRAINERS = {"fastai": train_fastai, "torch_onecycle": train_torch_onecycle,
            "schedulefree_sgd": train_schedulefree_sgd}


def main(argv: list[str] | None = None) -> int:
    args = worker_args("peers", argv, description=__doc__)
    counts = check_param_count(Path(args.split or SPLIT_FILE))
    print(f"PyTorch simple_cnn parameters match Keras: {counts}")
    info = versions()
    measure_step_time(args, "pytorch", torch_step_times, info)
    run_plan(args, lambda recipe, e, s, data: TRAINERS[recipe](e, s, data), info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
