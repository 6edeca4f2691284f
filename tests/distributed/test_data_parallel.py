"""OneCycle and the LR range test under data parallelism, against single-device training.

Every run is a subprocess of ``worker.py`` with its own environment (the Keras backend, JAX
virtual devices, TensorFlow logical devices, ``TF_CONFIG``, the JAX coordinator), so this
module works whatever ``KERAS_BACKEND`` the parent has. All runs start together (one
session fixture), each with a timeout, and must exit by themselves; ports are picked free on
127.0.0.1 at run time.

Cases (global batch 16 in every one):

* ``jax-dp``: ``keras.distribution.DataParallel`` over 4 virtual CPU devices, one process;
* ``tf-mirrored``: ``tf.distribute.MirroredStrategy`` over 4 logical CPU devices;
* ``jax-multiprocess``: two processes (2 virtual devices each) joined by
  ``keras.distribution.initialize`` with the coordinator on 127.0.0.1;
* ``tf-multiworker``: ``MultiWorkerMirroredStrategy``, two workers on two local ports via
  ``TF_CONFIG`` (with :func:`superconverge.distributed.patch_keras_multi_worker`, without
  which Keras 3's own ``fit`` fails under this strategy).

Each is compared with the single-device reference on the same backend. Tolerances: the
distributed runs sum the gradients in a different order (per-replica partial sums, then an
all-reduce), so float32 results differ in the last bits; ``rtol=1e-5`` (with ``atol=1e-6``
for weights near zero) is ~100 ulp, far below the effect of a wrong LR or momentum at any one
step (the constant-momentum control below differs by > 1e-3). Range-test losses past
``lr = 10`` are compared at ``rtol=1e-3``: there the sweep is diverging and amplifies the
rounding differences of earlier steps. Everything that is a decision (the sweep LRs, the stop
reason and step, the restore) must match exactly, and the workers of one job must agree bit for
bit with each other.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
WORKER = HERE / "worker.py"
TIMEOUT_S = 240  # per subprocess; all 8 together use ~55 s of CPU (1.5-2 min wall here)
SENSITIVE_LR = 10.0

pytestmark = pytest.mark.timeout(TIMEOUT_S + 60)


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KERAS_BACKEND", "XLA_FLAGS", "TF_CONFIG", "CUDA_VISIBLE_DEVICES")
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(
        TF_CPP_MIN_LOG_LEVEL="3",
        PYTHONHASHSEED="0",
        JAX_PLATFORMS="cpu",
        CUDA_VISIBLE_DEVICES="",
        OMP_NUM_THREADS="1",
    )
    env.update(extra)
    return env


class _Job:
    def __init__(self, name: str, args: list[str], env: dict[str, str], out: Path) -> None:
        self.name, self.out = name, out
        self.log = out.with_suffix(".log")
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(WORKER), args[0], str(out), *args[1:]],
                env=env,
                cwd=str(ROOT),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def wait(self, deadline: float) -> dict:
        try:
            self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return {"error": f"{self.name}: timed out (hang?)\n{self._tail()}"}
        if self.proc.returncode != 0 or not self.out.exists():
            return {"error": f"{self.name}: exit code {self.proc.returncode}\n{self._tail()}"}
        return json.loads(self.out.read_text())

    def _tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> dict[str, list[dict]]:
    """Start every run at once, wait for all (bounded), return their JSON results."""
    tmp = tmp_path_factory.mktemp("distributed")
    jax4 = {"XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    jax2 = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    coordinator, tf0, tf1 = _free_ports(3)
    cluster = {"worker": [f"127.0.0.1:{tf0}", f"127.0.0.1:{tf1}"]}

    def tf_config(index: int) -> str:
        return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})

    plan: dict[str, list[tuple[list[str], dict[str, str]]]] = {
        "reference-jax": [(["reference-jax"], _env())],
        "reference-tensorflow": [(["reference-tensorflow"], _env())],
        "jax-dp": [(["jax-dp"], _env(**jax4))],
        "tf-mirrored": [(["tf-mirrored"], _env())],
        "jax-multiprocess": [
            (
                [
                    "jax-multiprocess",
                    "--process-id",
                    str(i),
                    "--num-processes",
                    "2",
                    "--port",
                    str(coordinator),
                ],
                _env(**jax2),
            )
            for i in range(2)
        ],
        "tf-multiworker": [
            (["tf-multiworker"], _env(TF_CONFIG=tf_config(i))) for i in range(2)
        ],
    }
    jobs: dict[str, list[_Job]] = {}
    for name, members in plan.items():
        jobs[name] = []
        for i, (args, env) in enumerate(members):
            out = tmp / f"{name}-{i}.json"
            jobs[name].append(_Job(f"{name}[{i}]", args, env, out))
    deadline = time.monotonic() + TIMEOUT_S
    results = {name: [job.wait(deadline) for job in members] for name, members in jobs.items()}
    walls = {n: [r.get("wall_s") for r in rs] for n, rs in results.items()}
    print(f"distributed runs (wall s): {walls}")  # shown with pytest -s / on failure
    return results


def _ok(results: list[dict]) -> list[dict]:
    for r in results:
        if "error" in r:
            pytest.fail(r["error"])
    return results


def _assert_matches_reference(got: dict, ref: dict) -> None:
    # the range test: same sweep, same decision, same losses, exact restore
    rt, rr = got["range_test"], ref["range_test"]
    # fresh models: the sweep ran inside the (replicated) compiled step, as on one device
    assert rt["sweep_in_step"] and rr["sweep_in_step"]
    assert rt["lrs"] == rr["lrs"]
    assert (rt["stop_reason"], rt["stop_step"]) == (rr["stop_reason"], rr["stop_step"])
    assert rr["stop_reason"] == "diverged" and rr["stop_step"] < 39  # stopped early
    lrs = np.array(rt["lrs"])
    calm = lrs <= SENSITIVE_LR
    np.testing.assert_allclose(
        np.array(rt["losses"])[calm], np.array(rr["losses"])[calm], rtol=1e-5
    )
    np.testing.assert_allclose(
        np.array(rt["losses"])[~calm], np.array(rr["losses"])[~calm], rtol=1e-3
    )
    assert got["restored"], f"variables changed by the range test: {got['changed_variables']}"
    assert got["num_variables"] == ref["num_variables"]
    # OneCycle: the same LR and momentum at every step -> the same weights after every step
    assert got["fit_lrs"] == ref["fit_lrs"]
    assert got["fit_momentums"] == ref["fit_momentums"]
    assert got["iterations"] == ref["iterations"] == len(ref["fit_weights"])
    assert len(got["fit_weights"]) == len(ref["fit_weights"])
    for step, (mine, theirs) in enumerate(zip(got["fit_weights"], ref["fit_weights"])):
        for a, b in zip(mine, theirs):
            np.testing.assert_allclose(
                np.array(a), np.array(b), rtol=1e-5, atol=1e-6, err_msg=f"step {step}"
            )
    # every replica holds the same weights and optimizer state
    assert got["replica_copies_identical"]
    # and the momentum schedule mattered: held momentum ends far from where we are
    final = np.concatenate([np.ravel(w) for w in got["fit_weights"][-1]])
    held = np.concatenate([np.ravel(w) for w in ref["constant_momentum_weights"][-1]])
    assert np.max(np.abs(final - held)) > 1e-3


def _assert_workers_agree(results: list[dict]) -> None:
    first = results[0]
    for other in results[1:]:
        assert other["range_test"] == first["range_test"]  # bitwise: the same stop decision
        assert other["fit_weights"] == first["fit_weights"]
        assert other["restored"] and first["restored"]


def test_jax_data_parallel_4_devices(runs):
    (got,) = _ok(runs["jax-dp"])
    (ref,) = _ok(runs["reference-jax"])
    assert got["replicas"] == 4 and got["replica_copies"] == 4
    _assert_matches_reference(got, ref)


def test_tf_mirrored_4_logical_devices(runs):
    (got,) = _ok(runs["tf-mirrored"])
    (ref,) = _ok(runs["reference-tensorflow"])
    assert got["replicas"] == 4 and got["replica_copies"] == 4
    _assert_matches_reference(got, ref)


def test_jax_two_processes_coordinator_on_localhost(runs):
    results = _ok(runs["jax-multiprocess"])
    (ref,) = _ok(runs["reference-jax"])
    for got in results:
        assert got["replicas"] == 4 and got["local_devices"] == 2
        _assert_matches_reference(got, ref)
    _assert_workers_agree(results)


def test_tf_multi_worker_two_local_ports(runs):
    results = _ok(runs["tf-multiworker"])
    (ref,) = _ok(runs["reference-tensorflow"])
    for got in results:
        assert got["replicas"] == 2
        _assert_matches_reference(got, ref)
    _assert_workers_agree(results)
