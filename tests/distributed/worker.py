"""One distributed (or reference) run, started by ``test_data_parallel.py`` in a subprocess.

Usage::

    python worker.py ENGINE OUT_JSON [--process-id I --num-processes N --port P]

ENGINE is one of

* ``reference-jax`` / ``reference-tensorflow`` — one process, one device, the global batch;
* ``jax-dp`` — ``keras.distribution.DataParallel`` over the 4 virtual CPU devices of this
  process (the parent sets ``XLA_FLAGS=--xla_force_host_platform_device_count=4``);
* ``tf-mirrored`` — ``tf.distribute.MirroredStrategy`` over 4 logical CPU devices;
* ``jax-multiprocess`` — ``keras.distribution.initialize`` with the coordinator on
  127.0.0.1:P, then ``DataParallel`` over the devices of all processes;
* ``tf-multiworker`` — ``tf.distribute.MultiWorkerMirroredStrategy`` with ``TF_CONFIG`` (set
  by the parent: two workers on two local ports).

Every engine runs the same sequence on the same data and initial weights:

1. ``sc.lr_range_test`` (exponential sweep that diverges before its last step), then checks
   that every model/optimizer/metric variable is bit-for-bit what it was before;
2. ``model.fit`` with ``sc.OneCycle`` (SGD with momentum, momentum scheduled 0.95 → 0.5),
   recording all weights after every optimizer step.

It writes the range-test curve, stop decision, restore check and the per-step weights to
OUT_JSON; the test compares them with the reference run. The per-process batch is the global
batch divided by the number of processes (JAX multi-process feeds each process its slice of
every global batch; TensorFlow's multi-worker strategy splits the global batch itself).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

_T0 = time.perf_counter()

GLOBAL_BATCH = 16
N_SAMPLES = 128  # 8 global batches per epoch
D, HIDDEN, CLASSES = 8, 16, 4
FIT_EPOCHS = 2
RANGE_STEPS = 40


def _data():
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(N_SAMPLES, D)).astype("float32")
    y = (np.argmax(x[:, :CLASSES] + 0.3 * rng.normal(size=(N_SAMPLES, CLASSES)), axis=1))
    return x, y.astype("int32")


def _initial_weights():
    import numpy as np

    rng = np.random.default_rng(1)
    return [
        (rng.normal(size=(D, HIDDEN)) / np.sqrt(D)).astype("float32"),
        (0.1 * rng.normal(size=(HIDDEN,))).astype("float32"),
        (rng.normal(size=(HIDDEN, CLASSES)) / np.sqrt(HIDDEN)).astype("float32"),
        (0.1 * rng.normal(size=(CLASSES,))).astype("float32"),
    ]


def _build_model():
    import keras

    model = keras.Sequential(
        [
            keras.Input((D,)),
            keras.layers.Dense(HIDDEN, activation="tanh"),
            keras.layers.Dense(CLASSES),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.set_weights(_initial_weights())
    model.optimizer.build(model.trainable_variables)
    return model


def _numpy(variable):
    import keras
    import numpy as np

    return np.array(keras.ops.convert_to_numpy(variable.value), copy=True)




class _StepWeights:
    """Callback factory (Keras is imported late, after the environment is set up)."""

    @staticmethod
    def make():
        import keras

        class Recorder(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.weights = []

            def on_train_batch_end(self, batch, logs=None):
                self.weights.append([_numpy(v).tolist() for v in self.model.trainable_variables])

        return Recorder()


def _replica_copies(variable) -> list:
    """Every copy of ``variable`` this process holds: one per replica (TF mirrored) or per
    addressable device shard (JAX replicated array)."""
    import keras
    import numpy as np

    value = variable.value
    if keras.backend.backend() == "tensorflow":
        copies = getattr(value, "values", None) or (value,)
        return [np.asarray(c.numpy()) for c in copies]
    shards = getattr(value, "addressable_shards", None)
    if shards:
        return [np.asarray(shard.data) for shard in shards]
    return [_numpy(variable)]


def _replicas_identical(model) -> tuple[bool, int]:
    import numpy as np

    copies = 0
    for variable in list(model.trainable_variables) + list(model.optimizer.variables):
        parts = _replica_copies(variable)
        copies = max(copies, len(parts))
        if not all(np.array_equal(parts[0], p) for p in parts[1:]):
            return False, copies
    return True, copies


def _local_slices(x, y, process_id: int, num_processes: int):
    """Rows of every global batch that belong to this process (JAX multi-process input)."""
    import numpy as np

    per = GLOBAL_BATCH // num_processes
    idx = np.concatenate(
        [
            np.arange(start + process_id * per, start + (process_id + 1) * per)
            for start in range(0, len(x), GLOBAL_BATCH)
        ]
    )
    return x[idx], y[idx]


def run_sequence(x, y, batch_size: int, scope=None, control: bool = False) -> dict:
    """Range test, restore check, then OneCycle training; returns what the test compares."""
    import contextlib

    import superconverge as sc
    from superconverge.finder.state import TrainingState

    scope = scope or contextlib.nullcontext  # a factory: strategy.scope
    with scope():
        model = _build_model()
    # every model / optimizer / metric variable, per replica for TF sync-on-read state
    before = TrainingState.capture(model)
    result = sc.lr_range_test(
        model,
        x,
        y,
        batch_size=batch_size,
        start_lr=1e-3,
        end_lr=1e3,
        steps=RANGE_STEPS,
        min_steps=5,
        diverge=4.0,
        shuffle=False,
    )
    changed = before.differences(model)

    policy = sc.OneCycleSchedule.smith(
        0.5,
        FIT_EPOCHS * (N_SAMPLES // GLOBAL_BATCH),
        max_momentum=0.95,
        min_momentum=0.5,
    )
    recorder = _StepWeights.make()
    one_cycle = sc.OneCycle(schedule=policy)
    model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=FIT_EPOCHS,
        shuffle=False,
        verbose=0,
        callbacks=[one_cycle, recorder],
    )
    import superconverge.callbacks.optimizer_hooks as hooks

    identical, copies = _replicas_identical(model)
    out = {
        "range_test": {
            "lrs": [float(v) for v in result.lrs],
            "losses": [float(v) for v in result.losses],
            "stop_reason": result.stop_reason,
            "stop_step": result.stop_step,
            "sweep_in_step": result.metadata["sweep_in_step"],
        },
        "restored": not changed,
        "changed_variables": changed,
        "num_variables": len(before.pairs),
        "fit_weights": recorder.weights,
        "fit_lrs": one_cycle.applied["learning_rate"],
        "fit_momentums": one_cycle.applied["momentum"],
        "iterations": hooks.host_step(model.optimizer),
        "replica_copies": copies,
        "replica_copies_identical": identical,
    }
    if control:
        # the same run with the momentum held at SGD's 0.9: a distributed run that applied
        # the LR schedule but not the momentum schedule would land here, not on the reference
        with scope():
            constant = _build_model()
        recorder = _StepWeights.make()
        constant.fit(
            x,
            y,
            batch_size=batch_size,
            epochs=FIT_EPOCHS,
            shuffle=False,
            verbose=0,
            callbacks=[sc.OneCycle(schedule=policy, cycle_momentum=False), recorder],
        )
        out["constant_momentum_weights"] = recorder.weights
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("engine")
    parser.add_argument("out")
    parser.add_argument("--process-id", type=int, default=0)
    parser.add_argument("--num-processes", type=int, default=1)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    engine = args.engine
    info: dict = {"engine": engine, "process_id": args.process_id}

    if engine.startswith("tf") or engine == "reference-tensorflow":
        os.environ["KERAS_BACKEND"] = "tensorflow"
    else:
        os.environ["KERAS_BACKEND"] = "jax"

    if engine == "tf-mirrored":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 4
        )
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices)
        info["replicas"] = strategy.num_replicas_in_sync
        x, y = _data()
        info.update(run_sequence(x, y, GLOBAL_BATCH, scope=strategy.scope))
    elif engine == "tf-multiworker":
        import tensorflow as tf

        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        info["replicas"] = strategy.num_replicas_in_sync
        from superconverge.distributed import patch_keras_multi_worker

        # Keras 3's own fit fails under this strategy without it (keras-team/keras#20585)
        patch_keras_multi_worker()
        x, y = _data()
        info.update(run_sequence(x, y, GLOBAL_BATCH, scope=strategy.scope))
    elif engine == "jax-dp":
        import jax
        import keras

        devices = jax.devices()
        info["replicas"] = len(devices)
        keras.distribution.set_distribution(keras.distribution.DataParallel())
        x, y = _data()
        info.update(run_sequence(x, y, GLOBAL_BATCH))
    elif engine == "jax-multiprocess":
        import keras

        keras.distribution.initialize(
            job_addresses=f"127.0.0.1:{args.port}",
            num_processes=args.num_processes,
            process_id=args.process_id,
        )
        import jax

        info["replicas"] = len(jax.devices())
        info["local_devices"] = len(jax.local_devices())
        # each process is given its own slice of every global batch (NumPy arrays), so Keras
        # must not shard the input again
        keras.distribution.set_distribution(
            keras.distribution.DataParallel(auto_shard_dataset=False)
        )
        x, y = _data()
        x, y = _local_slices(x, y, args.process_id, args.num_processes)
        info.update(run_sequence(x, y, GLOBAL_BATCH // args.num_processes))
    elif engine in ("reference-jax", "reference-tensorflow"):
        info["replicas"] = 1
        x, y = _data()
        info.update(run_sequence(x, y, GLOBAL_BATCH, control=True))
    else:
        parser.error(f"unknown engine {engine!r}")

    info["wall_s"] = round(time.perf_counter() - _T0, 2)
    with open(args.out, "w") as f:
        json.dump(info, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
