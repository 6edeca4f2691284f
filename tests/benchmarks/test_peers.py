"""The pure parts of the peers benchmark (issue 14), in the project venv and in seconds.

The harness itself (fastai, torch-lr-finder, schedulefree in their own venv, hours of
training) is not run in CI; see ``benchmarks/peers/README.md``. Here:

* the split file round trip: writer → reader gives exactly what ``superconverge.data``'s
  ``finalize`` gives for the same seed and ``train_subset``;
* the PyTorch ``simple_cnn`` twin has the Keras model's parameter counts and, with the Keras
  weights copied in, the same outputs (the project venv has a CPU torch);
* one result file per (recipe, E, seed), and a rerun skips the finished ones;
* the Markdown renderer: the table comes from ``peers.json``, the README block is replaced in
  place, a file without the block is refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest

PEERS = Path(__file__).resolve().parents[2] / "benchmarks" / "peers"
sys.path.insert(0, str(PEERS))

import peers_common  # noqa: E402
import render  # noqa: E402
import report  # noqa: E402


def _raw(n_train: int = 200, n_test: int = 50, seed: int = 0):
    from superconverge.data.splits import RawData

    rng = np.random.default_rng(seed)
    return RawData(
        x_train=rng.integers(0, 256, (n_train, 28, 28, 1), dtype=np.uint8),
        y_train=rng.integers(0, 10, n_train).astype(np.int32),
        x_test=rng.integers(0, 256, (n_test, 28, 28, 1), dtype=np.uint8),
        y_test=rng.integers(0, 10, n_test).astype(np.int32),
        num_classes=10,
    )


@pytest.mark.parametrize("train_subset", [None, 37])
def test_split_round_trip_equals_the_pipelines_split(tmp_path, train_subset):
    from superconverge.data.splits import finalize, stratified_holdout

    raw = _raw()
    seeds = (0, 3)
    indices = {s: stratified_holdout(raw.y_train, 0.1, s) for s in seeds}
    path = peers_common.write_split(
        tmp_path / "split.npz",
        peers_common.split_arrays(raw.x_train, raw.y_train, raw.x_test, raw.y_test, indices,
                                  {"seeds": list(seeds), "source": "test"}))
    assert peers_common.split_meta(path)["seeds"] == list(seeds)
    for seed in seeds:
        mine = peers_common.load_split(path, seed, train_subset)
        theirs = finalize("t", raw, validation_split=0.1, seed=seed, train_subset=train_subset)
        for name in ("train", "val", "test"):
            split = getattr(theirs, name)
            np.testing.assert_array_equal(mine[f"x_{name}"], split.x)
            np.testing.assert_array_equal(mine[f"y_{name}"], split.y)
            assert mine[f"x_{name}"].dtype == np.float32
    with pytest.raises(SystemExit, match="no split for seed 1"):
        peers_common.load_split(path, 1)


def test_torch_twin_matches_the_keras_simple_cnn():
    torch = pytest.importorskip("torch")
    import split
    import torch_net

    from superconverge import models

    counts = split.keras_param_counts()
    assert torch_net.param_counts(torch_net.SimpleCNN()) == {
        k: counts[k] for k in ("total", "trainable", "non_trainable")}

    # same outputs with the Keras weights copied in (eval mode, non-trivial BN statistics)
    keras_model = models.build("simple_cnn", (28, 28, 1), 10, seed=1, output="logits")
    rng = np.random.default_rng(0)
    net = torch_net.SimpleCNN().double().eval()
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for i, (conv, bn) in enumerate(zip(convs, bns, strict=True)):
            kernel = keras_model.get_layer(f"block{i + 1}_conv").get_weights()[0]
            conv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).astype(np.float64)))
            layer = keras_model.get_layer(f"block{i + 1}_bn")
            c = bn.num_features
            values = [rng.uniform(0.5, 1.5, c), rng.normal(0, 0.1, c), rng.normal(0, 0.1, c),
                      rng.uniform(0.5, 2.0, c)]  # gamma, beta, moving mean, moving variance
            layer.set_weights([v.astype(np.float32) for v in values])
            for target, v in zip((bn.weight, bn.bias, bn.running_mean, bn.running_var), values,
                                 strict=True):
                target.copy_(torch.from_numpy(v.astype(np.float32).astype(np.float64)))
            assert bn.eps == layer.epsilon == 1e-5
            assert bn.momentum == pytest.approx(1 - layer.momentum)
        kernel, bias = keras_model.get_layer("fc").get_weights()
        net.fc.weight.copy_(torch.from_numpy(kernel.T.astype(np.float64)))
        net.fc.bias.copy_(torch.from_numpy(bias.astype(np.float64)))
        x = rng.uniform(0, 1, (3, 28, 28, 1)).astype(np.float32)
        expected = np.asarray(keras_model(x, training=False))
        got = net(torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float64))).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_torch_twin_initialisers_follow_keras():
    torch = pytest.importorskip("torch")
    import torch_net

    torch.manual_seed(0)
    net = torch_net.SimpleCNN()
    conv = net.features[-3]  # 64 -> 64 channels, fan_in 576
    std = np.sqrt(2 / 576) / torch_net.KERAS_TRUNCATED_NORMAL_STD
    w = conv.weight.detach().numpy()
    assert np.abs(w).max() <= 2 * std + 1e-7
    assert w.std() == pytest.approx(np.sqrt(2 / 576), rel=0.05)  # Keras' he_normal variance
    assert conv.bias is None
    assert np.abs(net.fc.weight.detach().numpy()).max() <= np.sqrt(6 / (64 + 10))


def _schedule_free_adamw_reference(w0, grad, steps, *, lr=0.1, aliased=False):
    """Schedule-free AdamW (Defazio et al. 2024; Keras' update_step, no warm-up) in NumPy:
    ``(y, z, x)`` after ``steps`` steps. ``aliased``: ``x_old`` recovered from the *updated*
    ``z``, what Keras 3.15.1 does on the torch backend (``momentum.value`` aliases)."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    y, z, v = w0.copy(), w0.copy(), np.zeros_like(w0)
    x = w0.copy()
    for t in range(1, steps + 1):
        g = grad(y)
        v = v + (g * g - v) * (1 - b2)
        z_old = z
        z = z - lr * g / (np.sqrt(v / (1 - b2 ** t)) + eps)
        x_old = (y - (1 - b1) * (z if aliased else z_old)) / b1
        x = (1 - 1 / t) * x_old + z / t
        y = (1 - b1) * z + b1 * x
    return y, z, x


def test_keras_schedule_free_adamw_against_a_numpy_reference():
    """Why keras_schedulefree runs on JAX: there Keras' ScheduleFreeAdamW is the reference
    algorithm; on torch it recovers x_old from the updated z. When the torch expectation
    fails, Keras has fixed it: move the recipe back to the torch backend (peers_common)."""
    import keras
    import keras_side

    backend = keras.backend.backend()
    if backend not in ("jax", "torch"):
        pytest.skip("pinned on jax and torch only")
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, use_bias=False)])
    optimizer = keras.optimizers.ScheduleFreeAdamW(learning_rate=0.1)
    model.compile(optimizer=optimizer, loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 3)).astype("float32"), rng.normal(size=(8, 2)).astype("float32")
    w0 = model.get_weights()[0].astype(np.float64)

    def grad(w):
        return 2 * x.T @ (x @ w - y) / y.size

    for _ in range(5):
        model.train_on_batch(x, y)
    ref_y, _, ref_x = _schedule_free_adamw_reference(w0, grad, 5, aliased=backend == "torch")
    other_y, _, _ = _schedule_free_adamw_reference(w0, grad, 5, aliased=backend != "torch")
    got_y = model.get_weights()[0]
    np.testing.assert_allclose(got_y, ref_y, rtol=1e-4, atol=1e-5)
    assert np.abs(got_y - other_y).max() > 1e-3  # the two variants are distinguishable
    assert RECIPES_BACKEND["keras_schedulefree"] == "jax"
    # the evaluation point the benchmark swaps in is the algorithm's x
    saved = keras_side.schedule_free_swap(model, optimizer)
    np.testing.assert_allclose(saved[0], got_y)
    np.testing.assert_allclose(model.get_weights()[0], ref_x, rtol=1e-4, atol=1e-5)


RECIPES_BACKEND = {k: v.get("backend", "torch") for k, v in peers_common.RECIPES.items()}


def _args(tmp_path: Path, split_path: Path) -> argparse.Namespace:
    return argparse.Namespace(recipes=["superconverge", "keras_cosine"], budgets=[2, 4],
                              seeds=[0], train_subset=None, split=str(split_path),
                              out_dir=str(tmp_path / "out"))


def _fake_record(recipe: str, epochs: int, seed: int, data) -> dict:
    return {"test_accuracy": 0.8 + 0.01 * epochs + 0.001 * seed, "test_loss": 0.5,
            "val_accuracy": 0.8, "lr": 0.1, "lr_finder_seconds": 3.0,
            "train_seconds": 2.0 * epochs, "seconds_per_epoch": 2.0,
            "settings": {"recipe": recipe}}


def test_one_result_file_per_run_and_rerun_skips(tmp_path):
    from superconverge.data.splits import stratified_holdout

    raw = _raw()
    split_path = peers_common.write_split(tmp_path / "s.npz", peers_common.split_arrays(
        raw.x_train, raw.y_train, raw.x_test, raw.y_test,
        {0: stratified_holdout(raw.y_train, 0.1, 0)}, {"seeds": [0], "source": "t"}))
    args = _args(tmp_path, split_path)
    calls = []

    def train_one(recipe, epochs, seed, data):
        calls.append((recipe, epochs, seed))
        assert len(data["y_train"]) == 180 and len(data["y_val"]) == 20
        return _fake_record(recipe, epochs, seed, data)

    assert peers_common.run_plan(args, train_one, {"v": "1"}, log=lambda m: None) == 4
    files = sorted(p.name for p in (tmp_path / "out" / "peers").iterdir())
    assert files == ["keras_cosine-E2-seed0.json", "keras_cosine-E4-seed0.json",
                     "superconverge-E2-seed0.json", "superconverge-E4-seed0.json"]
    record = json.loads((tmp_path / "out" / "peers" / files[0]).read_text())
    assert record["recipe"] == "keras_cosine" and record["train_examples"] == 180
    assert peers_common.run_plan(args, train_one, {"v": "1"}, log=lambda m: None) == 0
    assert len(calls) == 4


def _payload() -> dict:
    runs = []
    for recipe in ("superconverge", "fastai"):
        for epochs in (2, 4):
            for seed in (0, 1):
                r = _fake_record(recipe, epochs, seed, None)
                if recipe == "fastai":
                    r["test_accuracy"] -= 0.05
                r.update(recipe=recipe, epochs=epochs, seed=seed, train_examples=54000,
                         val_examples=6000, test_examples=10000, versions={"x": "1"},
                         framework=peers_common.RECIPES[recipe]["framework"])
                runs.append(r)
    return report.summarize(runs, {"total": 70746})


def test_renderer_table_comes_from_the_json():
    payload = _payload()
    text = "\n".join(render.render(payload))
    assert "| recipe | framework | E = 2 | E = 4 |" in text
    # superconverge E=2: 0.82 and 0.821 -> 82.05 ± 0.07
    assert "| superconverge (range test → auto bounds → one-cycle) | Keras 3 (torch backend) | " \
           "82.05 ± 0.07 | 84.05 ± 0.07 |" in text
    assert "77.05 ± 0.07" in text  # fastai, 5 points lower
    assert "70746 parameters" in text and "seeds 0, 1" in text
    assert "| 2.0 | 27000 | 3.0 |" in text  # s/epoch, images/s, LR finder
    payload["summary"][0]["test_accuracy"]["mean"] = 0.5
    assert "50.00 ± 0.07" in "\n".join(render.render(payload))


def test_renderer_step_time_line():
    payload = _payload()
    assert "Training step alone" not in "\n".join(render.render(payload))
    payload["step_time"] = {"keras_torch_backend": 0.03, "pytorch": 0.02,
                            "keras_over_pytorch": 1.5}
    assert ("Keras 3 on the torch backend 30.0 ms, native PyTorch 20.0 ms (1.50×)"
            in "\n".join(render.render(payload)))


def test_renderer_marks_missing_cells_and_short_seeds():
    payload = _payload()
    payload["summary"] = [e for e in payload["summary"]
                          if not (e["recipe"] == "fastai" and e["epochs"] == 4)]
    payload["summary"][0]["test_accuracy"]["n"] = 1
    text = "\n".join(render.accuracy_table(payload))
    assert "(n=1)" in text
    assert text.splitlines()[-1].endswith("| — |")


def test_update_markdown_replaces_only_the_block(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# t\n\nbefore\n{render.START}\nold line\n{render.END}\nafter\n")
    render.update_markdown(readme, ["new", "lines"])
    assert readme.read_text() == f"# t\n\nbefore\n{render.START}\nnew\nlines\n{render.END}\nafter\n"
    (tmp_path / "plain.md").write_text("no block\n")
    with pytest.raises(SystemExit, match="peers:start"):
        render.update_markdown(tmp_path / "plain.md", ["x"])


def test_project_readme_has_the_peers_block():
    text = (PEERS.parents[1] / "README.md").read_text(encoding="utf-8")
    assert text.count(render.START) == 1 and text.count(render.END) == 1
    assert text.index(render.START) < text.index(render.END)


def test_wall_times_come_from_the_timing_pass_when_there_is_one():
    """Accuracy runs that shared the machine keep their accuracies, but the wall-time table is
    the timing pass's (every recipe once, alone), and the text says where each came from."""
    payload = _payload()
    accuracy_only = "\n".join(render.render(payload))
    assert "from the accuracy runs" in accuracy_only and "| 2.0 | 27000 |" in accuracy_only

    runs = payload["runs"]
    for r in runs:
        r["system"] = {"loadavg_at_start": [2.6, 2.0, 1.9], "thread_env": {"OMP_NUM_THREADS": "1"}}
    timing = []
    for recipe in ("superconverge", "fastai"):
        t = _fake_record(recipe, 2, 0, None)
        t.update(recipe=recipe, epochs=2, seed=0, train_examples=54000, seconds_per_epoch=1.5,
                 framework=peers_common.RECIPES[recipe]["framework"],
                 system={"loadavg_at_start": [0.4, 0.5, 0.9], "thread_env": {}})
        timing.append(t)
    steps = [{"framework": "keras", "seconds_per_step": 0.03},
             {"framework": "pytorch", "seconds_per_step": 0.025}]
    timed = report.summarize(runs, {"total": 70746}, None, timing, steps)
    text = "\n".join(render.render(timed))
    assert [w["seconds_per_epoch"] for w in timed["wall_time"]] == [1.5, 1.5]
    assert "| 1.5 | 36000 |" in text and "| 2.0 | 27000 |" not in text
    assert "from the timing pass" in text and "load average at the start 0.40–0.40" in text
    assert "Accuracy runs: 8 runs" in text and "OMP_NUM_THREADS=1" in text and "2.60–2.60" in text
    assert timed["step_time"]["keras_over_pytorch"] == pytest.approx(1.2)
    # the accuracy cells are untouched by the timing pass
    assert timed["summary"] == payload["summary"]


def test_a_recipe_at_its_own_batch_size_is_named_in_the_settings_line():
    payload = _payload()
    assert "batch 128, " in render.settings_line(payload)
    runs = payload["runs"]
    for r in runs:
        if r["recipe"] == "superconverge":
            r["batch_size"] = 64
    text = render.settings_line(report.summarize(runs, {"total": 70746}))
    assert "batch 128 (superconverge: 64, its default)" in text


def test_standing_is_paired_by_seed_and_names_who_is_ahead():
    payload = _payload()  # fastai is 5 points lower on every seed
    lines = render.standing_lines(payload)
    assert lines[0].startswith("* E = 2: ahead of every peer on the mean")
    assert "fastai +5.00 ± 0.00" in lines[0]
    for r in payload["runs"]:
        if r["recipe"] == "fastai" and r["epochs"] == 4:
            r["test_accuracy"] += 0.06 + 0.01 * r["seed"]
    lines = render.standing_lines(payload)
    assert lines[1].startswith("* E = 4: behind fastai on the mean")
    assert "fastai -1.50 ± 0.71" in lines[1]


def test_standing_names_the_peers_not_measured_at_a_budget():
    payload = _payload()
    payload["runs"] = [r for r in payload["runs"]
                       if not (r["recipe"] == "fastai" and r["epochs"] == 4)]
    lines = render.standing_lines(payload)
    assert lines[0].startswith("* E = 2: ahead of every peer")
    assert lines[1] == "* E = 4: no peer measured yet (fastai)."
