"""Exact snapshot / restore of a Keras model's training state.

A range test trains the model at ever larger learning rates; afterwards the model must be
*exactly* as it was: weights, non-trainable state (batch-norm moving statistics, RNG seed
state), every optimizer variable (iteration counter, momentum / Adam slots, the learning-rate
variable), metric state, ``model.history`` and ``model.stop_training``.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import keras
import numpy as np

logger = logging.getLogger(__name__)

_MISSING = object()


def _sync_on_read_components(variable: Any) -> list[Any] | None:
    """The per-replica TF variables behind a ``tf.distribute`` sync-on-read variable (metric
    state under ``MirroredStrategy`` / ``MultiWorkerMirroredStrategy``), else ``None``.

    Such a variable has one local value per replica and no single value to read or assign
    exactly (reading sums the replicas, assigning divides by their number), so it is
    captured and restored replica by replica."""
    if keras.backend.backend() != "tensorflow":
        return None
    inner = getattr(variable, "value", None)
    if type(inner).__name__ != "SyncOnReadVariable":
        return None
    return list(inner.values)


def _numpy(value: Any) -> np.ndarray:
    # copy=True: on torch `.numpy()` may share memory with the live parameter.
    return np.array(keras.ops.convert_to_numpy(value), copy=True)


def _value(variable: Any) -> np.ndarray | tuple[np.ndarray, ...]:
    components = _sync_on_read_components(variable)
    if components is not None:
        return tuple(_numpy(c.read_value()) for c in components)
    return _numpy(variable.value)


def _assign(variable: Any, value: np.ndarray | tuple[np.ndarray, ...]) -> None:
    if isinstance(value, tuple):
        for component, part in zip(_sync_on_read_components(variable) or [], value):
            component.assign(part)
    else:
        variable.assign(value)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, tuple) or isinstance(b, tuple):
        return (
            isinstance(a, tuple)
            and isinstance(b, tuple)
            and len(a) == len(b)
            and all(np.array_equal(x, y) for x, y in zip(a, b))
        )
    return bool(np.array_equal(a, b))


@dataclasses.dataclass
class TrainingState:
    """Values of every model / optimizer / metric variable, paired with the variable itself."""

    pairs: list[tuple[Any, np.ndarray | tuple[np.ndarray, ...]]]
    history: Any
    stop_training: Any

    @classmethod
    def capture(cls, model: keras.Model) -> TrainingState:
        """Copy the current values. The optimizer must already be built (see
        :func:`prepare_model`) so that its slots exist and are captured."""
        variables: list[Any] = []
        seen: set[int] = set()
        groups = [model.variables]
        if getattr(model, "optimizer", None) is not None:
            groups.append(model.optimizer.variables)
        groups.append(getattr(model, "metrics_variables", []))
        for group in groups:
            for v in group:
                if id(v) not in seen:
                    seen.add(id(v))
                    variables.append(v)
        return cls(
            pairs=[(v, _value(v)) for v in variables],
            history=model.__dict__.get("history", _MISSING),
            stop_training=getattr(model, "stop_training", False),
        )

    def restore(self, model: keras.Model) -> None:
        """Assign the captured values back (bitwise), and restore ``history`` /
        ``stop_training``."""
        _detach_jax_state(model)
        for variable, value in self.pairs:
            _assign(variable, value)
        if self.history is _MISSING:
            if "history" in model.__dict__:
                try:
                    del model.history
                except AttributeError:  # pragma: no cover
                    pass
        else:
            model.history = self.history
        model.stop_training = self.stop_training

    def differences(self, model: keras.Model) -> list[str]:
        """Paths of the variables whose current value differs from the snapshot (for tests
        and debugging)."""
        return [
            getattr(v, "path", getattr(v, "name", "?"))
            for v, value in self.pairs
            if not _equal(_value(v), value)
        ]


def _detach_jax_state(model: keras.Model) -> None:
    """On JAX, `fit` keeps the live state outside the variables and re-attaches it lazily
    (``jax_state_sync``). Make sure nothing pending can overwrite what we restore."""
    if keras.backend.backend() != "jax":
        return
    if getattr(model, "_jax_state", None) is not None:
        sync = getattr(model, "jax_state_sync", None)
        if callable(sync):
            sync()
        model._jax_state = None
    if hasattr(model, "_jax_state_synced"):
        model._jax_state_synced = True
