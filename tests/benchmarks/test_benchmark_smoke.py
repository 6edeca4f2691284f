"""CI smoke tests of the issue-8 benchmark scripts: each runs end to end at toy size, writing
into a temporary directory, and its outputs have the promised structure.

* ``reproduce_super_convergence.py --smoke``: generated CIFAR-format files, every experiment;
* ``epoch_economy.py`` on the synthetic data set (two seeds, N = 2, one-cycle at N/2), then a
  resume that reads every finished run instead of training again;
* ``one_cycle_ablation.py`` on those runs: weight decay 0, and a fixed max LR;
* ``headline.py``: the table and plot come from the JSON (changing the JSON changes the
  table), the README block is replaced in place, and a README without the block is refused.

The scripts run as subprocesses on the torch backend, as a user runs them.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"


def _run(script: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": "torch", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True,
                            text=True, env=env, timeout=timeout, cwd=ROOT)
    if result.returncode != 0:
        raise AssertionError(f"{script} exit {result.returncode}\n{result.stdout}\n"
                             f"{result.stderr[-4000:]}")
    return result


def _bench_module(name: str):
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


# ----------------------------------------------------------------- reproduce_super_convergence
def test_generated_cifar_files_load_in_the_real_format(tmp_path):
    repro = _bench_module("reproduce_super_convergence")
    from superconverge import data

    folder = repro.write_cifar_files(tmp_path / "cifar-10-batches-py", per_batch=4, n_test=3)
    splits = data.load("cifar10", path=folder, validation_split=0.0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (20, 0, 3)
    assert splits.input_shape == (32, 32, 3) and splits.num_classes == 10


def test_reference_table_names_its_sources():
    repro = _bench_module("reproduce_super_convergence")
    for ref in repro.PAPER_RESULTS:
        assert ref["source"].startswith("Results/") and 0 < ref["accuracy"] < 100
        assert ref["iterations"] == (10000 if ref["policy"] == "one_cycle" else 80000)
    sizes = {r["train_size"] for r in repro.PAPER_RESULTS}
    assert sizes == {50000, 40000, 30000, 20000, 10000}


@pytest.mark.slow
def test_reproduction_smoke_runs_every_experiment(tmp_path):
    work, out = tmp_path / "work", tmp_path / "out"
    result = _run("reproduce_super_convergence.py", "--smoke", "--work-dir", str(work),
                  "--out-dir", str(out))
    payload = json.loads((out / "reproduce_super_convergence.json").read_text())
    assert (out / "reproduce_super_convergence.md").exists()
    assert payload["settings"]["smoke"] and payload["settings"]["model"] == "resnet20"
    rows = payload["rows"]
    keys = {(r["experiment"], r["train_size"], r["policy"], r["bn"]) for r in rows}
    assert ("fig1a+bn+table1", 50000, "one_cycle", 0.95) in keys
    assert ("fig1a+table1", 50000, "multistep", 0.999) in keys
    assert ("bn", 50000, "one_cycle", 0.999) in keys
    assert ("table1", 10000, "one_cycle", 0.95) in keys
    assert ("table1", 10000, "multistep", 0.999) in keys
    assert any(r["experiment"] == "bn" and r["bn"] not in (0.95, 0.999) for r in rows)  # library
    for r in rows:
        assert 0.0 <= r["measured"] <= 100.0
        assert r["iterations"] == (6 if r["policy"] == "one_cycle" else 8)
        # the paper column is filled exactly where a released log exists
        assert (r["paper"] is not None) == (r["experiment"] != "bn")
    by_size = {r["train_size"]: r["train_examples"] for r in rows}
    assert by_size[50000] == 200 and by_size[10000] == 40
    (rt,) = payload["range_test"]
    assert rt["steps"] == 10 and rt["end_lr"] == pytest.approx(3.0)
    assert rt["lr_at_end"] == pytest.approx(3.0)
    assert "92.44" in result.stdout  # the paper's number printed beside the measured one
    # run again: every arm is read from the work directory, nothing is trained
    again = _run("reproduce_super_convergence.py", "--smoke", "--experiments", "fig1a",
                 "--work-dir", str(work), "--out-dir", str(out))
    assert again.stderr.count("finished earlier") == 2


# ---------------------------------------------------------------------- epoch_economy + headline
# 160 examples in batches of 16: 10 steps per epoch, the fewest a range test accepts (the
# pipeline caps the range test at one epoch)
# (one-cycle with the baseline's batch and weight decay: the pipeline's batch of 64 would
# leave 3 steps per epoch)
TOY = ["--dataset", "synthetic", "--models", "simple_cnn", "--epochs", "2", "--fractions", "2",
       "--seeds", "0", "1", "--batch-size", "16", "--range-steps", "10",
       "--train-subset", "simple_cnn=160", "--one-cycle-recipe", "baseline"]


def test_default_plan_fits_about_two_hours():
    result = _run("epoch_economy.py", "--plan")
    minutes = int(re.search(r"estimated wall time: (\d+) min", result.stdout).group(1))
    assert 90 <= minutes <= 135
    assert result.stdout.count("resnet20 seed") == 6 and result.stdout.count("simple_cnn seed") == 6


@pytest.mark.slow
def test_epoch_economy_toy_run_resume_and_headline(tmp_path):
    work, out = tmp_path / "work", tmp_path / "out"
    _run("epoch_economy.py", *TOY, "--work-dir", str(work), "--out-dir", str(out))
    payload = json.loads((out / "epoch_economy.json").read_text())
    assert (out / "epoch_economy.md").exists()
    runs = payload["runs"]
    assert sorted((r["variant"], r["seed"]) for r in runs) == [
        ("baseline", 0), ("baseline", 1), ("one_cycle_n2", 0), ("one_cycle_n2", 1)]
    for r in runs:
        assert len(r["val_accuracy"]) == r["epochs"] == (2 if r["variant"] == "baseline" else 1)
        assert 0.0 <= r["test_accuracy"] <= 1.0 and r["wall_time"] > 0
        assert r["train_examples"] == 160
        assert (r["range_test_s"] > 0) == (r["variant"] != "baseline")
        sub = "baseline" if r["variant"] == "baseline" else "one_cycle"
        lines = (Path(r["run_dir"]) / f"{sub}_history.csv").read_text().splitlines()
        row = dict(zip(lines[0].split(","), lines[-1].split(",")))
        assert r["final_train_loss"] == pytest.approx(float(row["loss"]))
        assert r["final_train_accuracy"] == pytest.approx(float(row["accuracy"]))
    base, one = payload["summary"]
    assert one["final_train_loss"]["n"] == 2
    assert "| simple_cnn | one-cycle, N/2 | " in (out / "epoch_economy.md").read_text()
    assert (base["variant"], one["variant"]) == ("baseline", "one_cycle_n2")
    assert base["test_accuracy"]["n"] == one["test_accuracy"]["n"] == 2
    vs = one["vs_baseline"]
    assert vs["epoch_fraction"] == 0.5 and vs["baseline_epochs"] == 2
    paired = [o["test_accuracy"] - b["test_accuracy"] for o, b in zip(
        sorted((r for r in runs if r["variant"] == "one_cycle_n2"), key=lambda r: r["seed"]),
        sorted((r for r in runs if r["variant"] == "baseline"), key=lambda r: r["seed"]))]
    assert vs["accuracy_difference"]["mean"] == pytest.approx(sum(paired) / 2)
    assert vs["meets_baseline"] == (one["test_accuracy"]["mean"] >= base["test_accuracy"]["mean"])
    assert all(r["bounds"]["max_lr"] > r["bounds"]["min_lr"] > 0
               for r in runs if r["variant"] != "baseline")
    assert payload["plateau"]["simple_cnn"]["epochs"] == 2
    # the headline was generated next to it
    png = (out / "epoch_economy_accuracy.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    headline = (out / "headline.md").read_text()
    # the one-cycle rows name the batch their runs recorded (bounds.json)
    (batch,) = {r["bounds"]["batch_size"] for r in runs if r["variant"] != "baseline"}
    assert isinstance(batch, int) and one["batch_sizes"] == [batch]
    assert f"| simple_cnn | one-cycle, N/2 (batch {batch}) | 1 |" in headline
    assert f"| simple_cnn | one-cycle, N/2 (batch {batch}) | 1 |" in (
        out / "epoch_economy.md").read_text()
    assert f"{100 * one['test_accuracy']['mean']:.2f} ± " in headline

    # a second invocation reads the finished runs and trains nothing
    again = _run("epoch_economy.py", *TOY, "--work-dir", str(work), "--out-dir", str(out),
                 "--no-headline")
    assert again.stderr.count("finished earlier") == 2
    assert json.loads((out / "epoch_economy.json").read_text())["summary"] == payload["summary"]

    # another one-cycle recipe against the same baselines: they are reused, not trained
    work2, out2 = tmp_path / "work2", tmp_path / "out2"
    other = _run("epoch_economy.py", *TOY[:-2], "--one-cycle-config", "batch_size=16,"
                 "weight_decay=0,label_smoothing=0.2", "--economy-results",
                 str(out / "epoch_economy.json"), "--work-dir", str(work2), "--out-dir",
                 str(out2))
    assert "(2 baselines reused)" in other.stderr
    assert not list(work2.rglob("baseline_history.csv"))
    p2 = json.loads((out2 / "epoch_economy.json").read_text())
    first = {(r["variant"], r["seed"]): r for r in runs}
    for r in p2["runs"]:
        if r["variant"] == "baseline":
            assert r["source"].startswith("reused from")
            assert r["test_accuracy"] == first[("baseline", r["seed"])]["test_accuracy"]
        else:
            assert "source" not in r and r["bounds"]["weight_decay"] == 0.0
            config = json.loads((Path(r["run_dir"]) / "config.json").read_text())
            assert (config["batch_size"], config["label_smoothing"]) == (16, 0.2)
            assert config["lr_shape"] == "warmup_cosine"  # the pipeline's recipe underneath
    s2 = p2["settings"]
    assert s2["one_cycle_recipe"] == "pipeline" and s2["one_cycle_weight_decay"] == 0.0
    assert s2["one_cycle_config"] == {"batch_size": 16, "weight_decay": 0.0,
                                      "label_smoothing": 0.2}
    vs2 = p2["summary"][1]["vs_baseline"]
    assert vs2["wall_time_fraction"] is None and vs2["accuracy_difference"]["n"] == 2
    assert "— (baseline reused)" in (out2 / "headline.md").read_text()
    assert p2["summary"][0]["reused"] and not payload["summary"][0]["reused"]
    # runs that share the machine report no seconds as timings
    shared = _run("epoch_economy.py", *TOY, "--work-dir", str(work), "--out-dir",
                  str(tmp_path / "out3"), "--shared-machine")
    assert shared.stderr.count("finished earlier") == 2
    table = (tmp_path / "out3" / "headline.md").read_text()
    assert "not timed" in table and "— (shared machine)" in table
    assert "pipeline's default recipe" in (out2 / "epoch_economy.md").read_text()
    bad = subprocess.run([sys.executable, str(BENCH / "epoch_economy.py"), "--plan",
                          "--one-cycle-config", "batch=16"], capture_output=True, text=True,
                         cwd=ROOT)
    assert bad.returncode != 0 and "--one-cycle-config: 'batch=16'" in bad.stderr

    # the ablation trains the same one-cycle runs with one setting changed and compares them
    # with these epoch-economy runs of the same seeds
    _run("one_cycle_ablation.py", "--economy-results", str(out / "epoch_economy.json"),
         "--fraction", "2", "--variants", "weight_decay=0", "max_lr=0.05,weight_decay=0",
         "--work-dir", str(tmp_path / "ablation"), "--out-dir", str(out))
    ab = json.loads((out / "one_cycle_ablation.json").read_text())
    default, zero, fixed = ab["summary"]
    assert [e["variant"] for e in ab["summary"]] == [
        "default", "weight_decay=0", "max_lr=0.05,weight_decay=0"]
    assert default["test_accuracy"] == one["test_accuracy"]
    assert zero["test_accuracy"]["n"] == fixed["test_accuracy"]["n"] == 2
    assert [r["bounds"]["weight_decay"] for r in ab["runs"]] == [0.0] * 4
    assert [r["bounds"]["max_lr"] for r in ab["runs"][2:]] == [0.05, 0.05]
    # a fixed max LR: no range test
    assert not any((Path(r["run_dir"]) / "range_test.json").exists() for r in ab["runs"][2:])
    assert all((Path(r["run_dir"]) / "range_test.json").exists() for r in ab["runs"][:2])
    assert all(r["epochs"] == 1 for r in ab["runs"])
    base_acc = {r["seed"]: r["test_accuracy"] for r in runs if r["variant"] == "baseline"}
    paired = [r["test_accuracy"] - base_acc[r["seed"]] for r in ab["runs"][:2]]
    assert zero["accuracy_difference_vs_baseline"]["mean"] == pytest.approx(sum(paired) / 2)
    assert "| one-cycle, 1 epochs | weight_decay=0 |" in (out / "one_cycle_ablation.md").read_text()
    bad = subprocess.run([sys.executable, str(BENCH / "one_cycle_ablation.py"), "--variants",
                          "momentum=0.9"], capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "key in" in bad.stderr


def _payload() -> dict:
    """A hand-made epoch_economy.json: the headline must render whatever numbers it holds."""
    def st(mean, std=0.01):
        return {"mean": mean, "std": std, "median": mean, "n": 3}

    runs = [{"model": "m", "variant": v, "seed": s, "epochs": e, "test_accuracy": 0.5,
             "wall_time": 1.0, "range_test_s": 0.0, "val_accuracy": [0.4 + 0.01 * i
                                                                     for i in range(e)]}
            for v, e in (("baseline", 20), ("one_cycle_n4", 5), ("one_cycle_n5", 4))
            for s in (0, 1, 2)]
    summary = [{"model": "m", "variant": "baseline", "epochs": 20, "seeds": [0, 1, 2],
                "test_accuracy": st(0.9123), "wall_time": st(600.0), "range_test_s": st(0.0),
                "wall_time_with_range_test": st(600.0)}]
    for variant, epochs, acc in (("one_cycle_n4", 5, 0.9187), ("one_cycle_n5", 4, 0.9011)):
        summary.append({
            "model": "m", "variant": variant, "epochs": epochs, "seeds": [0, 1, 2],
            "test_accuracy": st(acc), "wall_time": st(150.0), "range_test_s": st(30.0),
            "wall_time_with_range_test": st(180.0),
            "vs_baseline": {"baseline_epochs": 20, "epoch_fraction": epochs / 20,
                            "wall_time_fraction": 0.25, "wall_time_fraction_with_range_test": 0.3,
                            "accuracy_difference": st(acc - 0.9123),
                            "meets_baseline": acc >= 0.9123}})
    return {"settings": {"dataset": "d", "models": ["m"], "seeds": [0, 1, 2], "epochs": 20,
                         "fractions": [4, 5], "batch_size": 128, "weight_decay": 5e-4,
                         "baseline_lr": 0.1, "train_examples": {"m": 1000}},
            "backend": "torch", "system": {"cpus": 2}, "summary": summary, "runs": runs}


def test_headline_comes_from_the_json_and_updates_the_readme(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "epoch_economy.json").write_text(json.dumps(_payload()))
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\nbefore\n<!-- headline:start -->\nold\n<!-- headline:end -->\nafter\n")
    result = _run("headline.py", "--results-dir", str(results), "--out-dir", str(results),
                  "--readme", str(readme))
    table = (results / "headline.md").read_text()
    assert result.stdout.strip() == table.strip()
    assert "| m | step decay (baseline) | 20 | 91.23 ± 1.00 |" in table
    assert "| m | one-cycle, N/4 | 5 | 91.87 ± 1.00 | +0.64 ± 1.00 |" in table
    assert "reaches the baseline's accuracy" in table
    assert "falls 1.12 pp short of the baseline" in table
    assert (results / "epoch_economy_accuracy.png").read_bytes().startswith(b"\x89PNG")
    text = readme.read_text()
    assert "old" not in text and text.startswith("# x\n\nbefore\n") and text.endswith("after\n")
    assert "(results/epoch_economy_accuracy.png)" in text and "91.87 ± 1.00" in text

    # change a number in the JSON: the table follows
    payload = _payload()
    payload["summary"][1]["test_accuracy"]["mean"] = 0.8
    (results / "epoch_economy.json").write_text(json.dumps(payload))
    _run("headline.py", "--results-dir", str(results), "--out-dir", str(results))
    assert "| m | one-cycle, N/4 | 5 | 80.00 ± 1.00 |" in (results / "headline.md").read_text()


def test_headline_refuses_a_readme_without_the_block(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / "epoch_economy.json").write_text(json.dumps(_payload()))
    readme = tmp_path / "README.md"
    readme.write_text("# no block\n")
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    result = subprocess.run([sys.executable, str(BENCH / "headline.py"), "--results-dir",
                             str(results), "--out-dir", str(results), "--readme", str(readme)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode != 0 and "headline:start" in result.stderr
    assert readme.read_text() == "# no block\n"


# -------------------------------------------------------------------------------- budget_curves
# 160 synthetic examples in batches of 16: 10 steps per epoch (a range test needs 10)
BUDGET_TOY = ["--dataset", "synthetic", "--model", "simple_cnn", "--train-subset", "160",
              "--batch-size", "16", "--range-steps", "10", "--seeds", "0", "1",
              "--budgets", "1", "--baseline-extra-budgets", "3"]


def test_epochs_to_reach_interpolates_the_baseline_curve():
    bc = _bench_module("budget_curves")
    reach = bc.epochs_to_reach([2, 4, 8], [0.80, 0.85, 0.90], 0.875)
    assert reach["epochs"] == pytest.approx(6.0) and reach["bound"] is None
    assert reach["text"] == "6.0"
    assert bc.epochs_to_reach([8, 2, 4], [0.90, 0.80, 0.85], 0.875)["epochs"] == pytest.approx(6)
    above = bc.epochs_to_reach([2, 4, 8], [0.80, 0.85, 0.90], 0.91)
    assert (above["epochs"], above["bound"], above["text"]) == (None, "above", "> 8")
    below = bc.epochs_to_reach([2, 4, 8], [0.80, 0.85, 0.90], 0.79)
    assert (below["epochs"], below["bound"], below["text"]) == (2.0, "below", "<= 2")
    assert bc.epochs_to_reach([2, 4, 8], [0.80, 0.85, 0.90], 0.90)["epochs"] == pytest.approx(8)
    # not monotonic: the first budget at which the curve reaches the target
    assert bc.epochs_to_reach([2, 4, 8], [0.80, 0.90, 0.88], 0.85)["epochs"] == pytest.approx(3)
    speed = bc.speedups([
        {"arm": "baseline", "epochs": e, "test_accuracy": {"mean": a}, "val_accuracy":
         {"mean": a}} for e, a in ((2, 0.80), (4, 0.85), (8, 0.90))] + [
        {"arm": "one_cycle", "epochs": 3, "test_accuracy": {"mean": 0.875},
         "val_accuracy": {"mean": 0.95}}])
    assert speed[0]["test_accuracy"]["speedup"] == pytest.approx(2.0)
    assert speed[0]["val_accuracy"]["speedup"] is None  # above the baseline's best


def test_paired_differences_pair_by_seed_at_the_same_and_the_longest_budget():
    bc = _bench_module("budget_curves")
    rows = [{"arm": arm, "epochs": e, "seed": s, "test_accuracy": a} for arm, e, s, a in (
        ("baseline", 4, 0, 0.90), ("baseline", 4, 1, 0.91), ("baseline", 20, 0, 0.93),
        ("baseline", 20, 1, 0.92), ("one_cycle", 4, 0, 0.925), ("one_cycle", 4, 1, 0.915),
        ("one_cycle", 4, 2, 0.99), ("one_cycle", 2, 0, 0.88))]
    four, two = sorted(bc.paired_differences(rows), key=lambda p: -p["one_cycle_epochs"])
    # seed 2 has no baseline: left out of the pairs
    assert four["vs_same_budget"]["seeds"] == [0, 1]
    assert four["vs_same_budget"]["mean"] == pytest.approx((0.025 + 0.005) / 2)
    assert four["vs_longest"]["baseline_epochs"] == 20
    assert four["vs_longest"]["mean"] == pytest.approx((-0.005 - 0.005) / 2)
    assert two["vs_same_budget"] is None  # no baseline at 2 epochs
    assert two["vs_longest"]["seeds"] == [0] and two["vs_longest"]["mean"] == pytest.approx(-0.05)


def test_budget_curves_toy_run_reuse_and_resume(tmp_path, caplog):
    work, out = tmp_path / "work", tmp_path / "out"
    # a hand-made epoch_economy.json holding the baseline at E = 3 for both seeds
    economy = tmp_path / "epoch_economy.json"
    economy.write_text(json.dumps({
        "settings": {"dataset": "synthetic", "train_examples": {"simple_cnn": 160},
                     "validation_examples": 51, "batch_size": 16, "weight_decay": 0.0005,
                     "baseline_lr": 0.1, "augment": False},
        "runs": [{"model": "simple_cnn", "variant": "baseline", "seed": s, "epochs": 3,
                  "test_accuracy": 0.9, "val_accuracy": [0.5, 0.7, 0.8 + 0.1 * s],
                  "wall_time": 3.0} for s in (0, 1)]}))
    args = [*BUDGET_TOY, "--work-dir", str(work), "--out-dir", str(out),
            "--economy-results", str(economy),
            "--one-cycle-config", "lr_shape=smith,lr_end=zero_tail"]
    _run("budget_curves.py", *args)
    payload = json.loads((out / "budget_curves.json").read_text())
    assert (out / "budget_curves.png").read_bytes().startswith(b"\x89PNG")
    md = (out / "budget_curves.md").read_text()
    assert "| step decay (baseline) | 3 | 2 |" in md and "reused from" in md
    runs = payload["runs"]
    assert sorted((r["arm"], r["epochs"], r["seed"]) for r in runs) == [
        ("baseline", 1, 0), ("baseline", 1, 1), ("baseline", 3, 0), ("baseline", 3, 1),
        ("one_cycle", 1, 0), ("one_cycle", 1, 1)]
    for r in runs:
        assert 0.0 <= r["test_accuracy"] <= 1.0 and 0.0 <= r["val_accuracy"] <= 1.0
        if r["epochs"] == 3:
            assert r["source"].startswith("reused")
            assert not (work / "simple_cnn" / "baseline" / "e3").exists()
            assert r["val_accuracy"] == pytest.approx(0.8 + 0.1 * r["seed"])
            continue
        assert r["source"] == "trained" and r["wall_time"] > 0
        assert r["train_examples"] == 160 and r["load_average_after"]
        run_dir = ROOT / r["run_dir"] if not Path(r["run_dir"]).is_absolute() else Path(
            r["run_dir"])
        # the baseline arm trains the baseline alone; the one-cycle arm no baseline
        assert (run_dir / "range_test.json").exists() == (r["arm"] == "one_cycle")
        assert (run_dir / "models" / "one_cycle.keras").exists() == (r["arm"] == "one_cycle")
        assert (run_dir / "models" / "baseline.keras").exists() == (r["arm"] == "baseline")
        config = json.loads((run_dir / "config.json").read_text())
        assert config["lr_end"] == ("zero_tail" if r["arm"] == "one_cycle" else "annihilate")
        if r["arm"] == "baseline":
            assert config["baseline_epochs"] == r["epochs"] and config["baseline_lr"] == 0.1
        else:
            assert run_dir.parent.parent.name == "one_cycle-lr_shape=smith,lr_end=zero_tail"
    s = payload["settings"]
    assert s["one_cycle_config"] == {"lr_shape": "smith", "lr_end": "zero_tail"}
    assert s["seeds"] == [0, 1]
    assert s["budgets"] == {"baseline": [1, 3], "one_cycle": [1]}
    assert payload["load_average"]["start"] and payload["system"]["cpus"]
    assert payload["versions"]["torch"] and payload["missing"] == []
    assert [(e["arm"], e["epochs"]) for e in payload["summary"]] == [
        ("baseline", 1), ("baseline", 3), ("one_cycle", 1)]
    (speed,) = payload["speedup"]
    bc = _bench_module("budget_curves")
    base = [e for e in payload["summary"] if e["arm"] == "baseline"]
    expected = bc.epochs_to_reach([e["epochs"] for e in base],
                                  [e["test_accuracy"]["mean"] for e in base],
                                  payload["summary"][-1]["test_accuracy"]["mean"])
    assert speed["test_accuracy"]["text"] == expected["text"]
    assert f"| 1 | {100 * speed['test_accuracy']['one_cycle_mean']:.2f} | " in md

    # one arm only, nothing to train (--max-runs 0), a new budget: the finished runs of both
    # arms are read, the new budget is listed as missing (in-process from here: nothing trains)
    caplog.set_level(logging.INFO, logger="budget_curves")
    assert bc.main([*args, "--arms", "one_cycle", "--max-runs", "0", "--budgets", "1", "4"]) == 0
    assert caplog.text.count("finished earlier") == 4 and "running in" not in caplog.text
    later = json.loads((out / "budget_curves.json").read_text())
    assert later["runs"] == runs
    assert {(m["arm"], m["epochs"]) for m in later["missing"]} == {("baseline", 4),
                                                                    ("one_cycle", 4)}
    assert "Not run yet: step decay (baseline) E=4 (seeds 0, 1); one-cycle E=4 (seeds 0, 1)" \
        in (out / "budget_curves.md").read_text()

    # run directories elsewhere and another one-cycle recipe: the baseline rows come from the
    # output already there, the other recipe's one-cycle rows do not
    elsewhere = [*BUDGET_TOY, "--work-dir", str(tmp_path / "other"), "--out-dir", str(out),
                 "--economy-results", str(economy),
                 "--one-cycle-config", "lr_shape=smith,lr_end=zero_half",
                 "--max-runs", "0"]
    assert bc.main(elsewhere) == 0
    third = json.loads((out / "budget_curves.json").read_text())
    assert [r for r in third["runs"] if r["arm"] == "baseline"] == [
        r for r in runs if r["arm"] == "baseline"]
    assert {(m["arm"], m["epochs"]) for m in third["missing"]} == {("one_cycle", 1)}

    # a finished run directory made with other settings is never reported as this one's
    parsed = bc.build_parser().parse_args([*args, "--weight-decay", "0.001"])
    parsed.overrides = bc.parse_overrides(parsed.one_cycle_config)
    item = next(i for i in bc.run_plan(parsed) if i["arm"] == "baseline")
    assert bc.config_changes(parsed, item) == ["weight_decay"]
    with pytest.raises(SystemExit, match="other settings"):
        bc.finished_row(parsed, item)


def test_lr_spread_toy_run_reports_every_method_and_landmark(tmp_path):
    work, out = tmp_path / "work", tmp_path / "out"
    args = ["--tasks", "mnist1d_cnn", "--seeds", "0", "1", "--train-subset", "800",
            "--range-steps", "20", "--work-dir", str(work), "--out-dir", str(out)]
    _run("lr_spread.py", *args)
    payload = json.loads((out / "lr_spread.json").read_text())
    task = payload["tasks"]["mnist1d_cnn"]
    assert [r["seed"] for r in task["runs"]] == [0, 1]
    assert {"auto", "valley", "minimum"} <= set(task["methods"])
    assert set(task["landmarks"]) == {"x_steep", "x_min", "x_basin", "x_rise", "x_div",
                                      "x_pick"}
    assert (out / "lr_spread.png").exists() and "## mnist1d_cnn" in (
        out / "lr_spread.md").read_text()
    # a second run reads the finished range tests instead of repeating them
    before = {p: p.stat().st_mtime_ns for p in work.rglob("range_test.json")}
    _run("lr_spread.py", *args)
    assert before == {p: p.stat().st_mtime_ns for p in work.rglob("range_test.json")}


def test_wall_budget_toy_run_reports_planned_and_actual(tmp_path):
    _run("wall_budget.py", "--dataset", "synthetic", "--train-subset", "448", "--budgets", "30s",
         "--out-dir", str(tmp_path), "--work-dir", str(tmp_path / "work"))
    payload = json.loads((tmp_path / "wall_budget.json").read_text())
    (run,) = payload["runs"]
    assert run["budget_seconds"] == 30.0 and run["planned_epochs"] >= 1
    assert 0 < run["actual_seconds"] and run["planned_seconds"] <= 30.0
    assert run["actual_over_budget"] == pytest.approx(run["actual_seconds"] / 30.0)
    assert "| 30s (30 s) | 0 |" in (tmp_path / "wall_budget.md").read_text()


def test_tuning_signal_toy_run_ranks_the_grid_and_resumes(tmp_path):
    work, out = tmp_path / "work", tmp_path / "out"
    args = ["--dataset", "synthetic", "--seeds", "0", "--train-subset", "256", "--epochs", "1",
            "--weight-decays", "0", "0.01", "--bn-momenta", "0.9", "0.99", "--signals", "128x1",
            "--arms", "--work-dir", str(work), "--out-dir", str(out)]
    _run("tuning_signal.py", *args)
    payload = json.loads((out / "tuning_signal.json").read_text())
    cells = {r["cell"] for r in payload["runs"] if r["kind"] == "final"}
    assert cells == {"default", "wd0-bn0.9", "wd0-bn0.99", "wd0.01-bn0.9", "wd0.01-bn0.99"}
    default = next(r for r in payload["runs"] if r["cell"] == "default")
    short = [r for r in payload["runs"] if r["kind"] == "128x1"]
    assert len(short) == 4 and {r["max_lr"] for r in short} == {default["max_lr"]}
    assert {r["bn_momentum"] for r in short} == {0.9, 0.99}
    signal = payload["analysis"]["signals"]["128x1"]
    assert -1 <= signal["rho_accuracy"]["mean"] <= 1
    assert signal["regret_accuracy"]["mean"] >= 0 and signal["regret_loss"]["mean"] >= 0
    assert signal["cost_final_epochs_per_cell"] == pytest.approx(0.5)
    # the data loss is Keras's loss less the L2 term: equal without weight decay, lower with
    for r in payload["runs"]:
        if r["weight_decay"] == 0:
            assert r["val_data_loss"] == pytest.approx(r["val_loss"], abs=1e-6)
        else:
            assert r["val_data_loss"] < r["val_loss"] - 1e-4
    assert signal["regret_tolerant"]["mean"] >= 0 and -1 <= signal["rho_data_loss"]["mean"] <= 1
    assert payload["analysis"]["oracle"]["0"]["cell"] in cells
    assert "| 128x1 | 0.50 |" in (out / "tuning_signal.md").read_text()
    # the three arms: `run --tune` per seed, test accuracy of every final model
    tuned = [r for r in payload["runs"] if r["kind"] == "tuned"]
    assert len(tuned) == 1 and tuned[0]["tuning_cost_final_runs"] > 0
    assert all("test_accuracy" in r for r in payload["runs"] if r["kind"] in ("final", "tuned"))
    arms = payload["analysis"]["arms"]
    assert arms["per_seed"]["0"]["oracle_cell"] in cells
    assert "tuned_minus_default_test" in arms
    assert "## Three arms" in (out / "tuning_signal.md").read_text()
    assert payload["commands"] == ["python benchmarks/tuning_signal.py " + " ".join(args)]
    # a second invocation reads the finished runs back instead of training again
    before = {p: p.stat().st_mtime_ns for p in work.rglob("one_cycle_training.json")}
    _run("tuning_signal.py", *args)
    assert before == {p: p.stat().st_mtime_ns for p in work.rglob("one_cycle_training.json")}
    # --rebuild recomputes the analysis from the file alone, adding no command
    _run("tuning_signal.py", "--rebuild", "--out-dir", str(out), "--work-dir", str(tmp_path / "no"))
    rebuilt = json.loads((out / "tuning_signal.json").read_text())
    assert rebuilt["analysis"] == payload["analysis"] and rebuilt["runs"] == payload["runs"]
    assert rebuilt["commands"] == payload["commands"] and not (tmp_path / "no").exists()


def test_interleaved_overhead_toy_run_pairs_every_step(tmp_path):
    # the worker itself fails when the OneCycle schedule or the in-step sweep did not run
    # inside the model's steps (its weights would equal the plain model's), when the fresh
    # model's range test did not sweep in the step or the traced one's not from the host, or
    # when a range test missed a step
    _run("interleaved_overhead.py", "--backends", "torch", "--steps", "4", "--batch", "16",
         "--out-dir", str(tmp_path))
    (row,) = json.loads((tmp_path / "interleaved_overhead.json").read_text())["results"]
    assert {len(t) for t in row["times_s"].values()} == {4}
    assert set(row["times_s"]) == {"plain", "one_cycle", "range_test", "range_test_host"}
    for name in ("one_cycle", "range_test", "range_test_host"):
        low, high = row[name]["ratio_95"]
        assert low <= row[name]["ratio"] <= high
    assert row["one_cycle_epoch_end_s"] > 0 and row["range_test_restore_s"] > 0
    assert "| torch | 4 |" in (tmp_path / "interleaved_overhead.md").read_text()
