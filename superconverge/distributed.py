"""Helpers for data-parallel training: the LR scaling rule and a Keras multi-worker workaround.

``sc.OneCycle`` and ``sc.lr_range_test`` need nothing from this module: they work unchanged
under ``keras.distribution.DataParallel`` (JAX, one or many processes) and
``tf.distribute.MirroredStrategy``; see ``docs/scaling_out.md``.

* :func:`scale_lr` — the fallback when you cannot run the range test at the global batch:
  carry LR bounds found at one batch size to another with the linear or square-root rule.
* :func:`patch_keras_multi_worker` — opt-in workaround for Keras 3's ``fit`` failing under
  ``tf.distribute.MultiWorkerMirroredStrategy`` (keras-team/keras#20585).
"""

from __future__ import annotations

import logging
import math
from typing import Any, Literal

from superconverge.errors import ArgumentError

logger = logging.getLogger(__name__)

Rule = Literal["linear", "sqrt"]


def scale_lr(lr: float, from_batch: int, to_batch: int, rule: Rule = "linear") -> float:
    """Learning rate for global batch ``to_batch``, given a good one at ``from_batch``.

    ``k = to_batch / from_batch`` (the global batch: per-replica batch × replicas);

    * ``rule="linear"``: ``lr · k`` (Goyal et al. 2017, "Accurate, large minibatch SGD"; for
      SGD, keeps the update per example the same while the gradient noise falls as 1/k);
    * ``rule="sqrt"``: ``lr · √k`` (Krizhevsky 2014; keeps the variance of the update the same;
      usual for Adam-type optimizers and for large k where the linear rule overshoots).

    Apply it to both One Cycle bounds (``max_lr`` and ``min_lr``). It is a fallback: Smith
    (2018) finds the usable LR grows with the batch but not by a fixed law; the range test run
    at the global batch measures it (``benchmarks/results/distributed_bounds.md`` compares the
    two). Warm-up is not modelled; One Cycle's rising first phase plays that role.

    Raises:
        ValueError: non-positive ``lr`` or batch sizes, or an unknown ``rule``.
    """
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ArgumentError(f"lr must be a positive finite number, got {lr!r}.")
    for name, value in (("from_batch", from_batch), ("to_batch", to_batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ArgumentError(f"{name} must be a positive integer (a batch size), got {value!r}.")
    ratio = to_batch / from_batch
    if rule == "linear":
        return float(lr * ratio)
    if rule == "sqrt":
        return float(lr * math.sqrt(ratio))
    raise ArgumentError(f"Unknown rule {rule!r}: use 'linear' or 'sqrt'.")


def patch_keras_multi_worker() -> bool:
    """Work around Keras 3's ``fit`` under ``tf.distribute.MultiWorkerMirroredStrategy``.

    Keras 3 (reproduced with 3.15.1 and TensorFlow 2.21) fails in ``model.fit`` as soon as the
    strategy spans more than one worker (keras-team/keras#20585), in two places of its
    TensorFlow trainer:

    1. ``_maybe_symbolic_build`` all-reduces the first data batch (a tuple) to build the model
       ("Attempt to convert a value (PerReplica ...) ... to a Tensor");
    2. ``reduce_per_replica`` averages the scalar logs with ``axis=0`` ("Invalid reduction
       dimension 0 for input with 0 dimensions").

    This replaces (1) by building from this worker's first local batch and (2) by a mean over
    replicas with ``axis=None`` (the same value on every worker). Nothing else changes; the
    gradients are all-reduced by the strategy as before. Call it once, before ``fit``, on every
    worker. It is opt-in and patches private Keras functions: upgrade Keras and drop it when
    the upstream issue is fixed.

    Returns ``True`` if it patched, ``False`` if already patched or the backend is not
    TensorFlow.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    if getattr(tf_trainer, "_superconverge_multi_worker_patch", False):
        return False
    original_reduce = tf_trainer.reduce_per_replica

    def maybe_symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> None:
        if self._distribute_strategy is None:
            return
        strategy = self.distribute_strategy
        if iterator is not None:
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tree.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0]
                    if isinstance(v, tf.distribute.DistributedValues)
                    else v,
                    batch,
                )
                break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(
            strategy
        ):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original_reduce(values, strategy, reduction)

    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica
    tf_trainer._superconverge_multi_worker_patch = True
    logger.info("Patched Keras's TensorFlow trainer for MultiWorkerMirroredStrategy (#20585).")
    return True
