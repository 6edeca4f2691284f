"""Checks of the range test's training data before the sweep starts.

A NaN in the inputs makes the loss NaN at the first batch that holds it, which the sweep
would read as divergence (and the bounds would come out far too low); an out-of-range class
index gives a loss of 0 on some backends (JAX gathers out of bounds silently) and a "completed"
sweep. Both are caught here, on in-memory arrays (and on :class:`ArrayBatches`, whose arrays
are in memory too); other inputs (``tf.data``, generators) are not read ahead.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from superconverge.finder.errors import RangeTestError

__all__ = ["check_inputs", "in_memory_arrays", "is_array_like"]


def is_array_like(x: Any) -> bool:
    """NumPy-like arrays (or a structure of them) that ``fit`` slices into batches itself."""
    leaves = keras.tree.flatten(x)
    return bool(leaves) and all(hasattr(leaf, "shape") and hasattr(leaf, "__len__")
                                for leaf in leaves)


def in_memory_arrays(x: Any, y: Any) -> tuple[list[Any], Any] | None:
    """``(x leaves, y)`` when the data are in memory (arrays or ``ArrayBatches``), else None."""
    from superconverge.data.batches import ArrayBatches

    if isinstance(x, ArrayBatches):
        return [x.x], x.y
    return (keras.tree.flatten(x), y) if is_array_like(x) else None


def _output_width(model: keras.Model) -> int | None:
    outputs = getattr(model, "outputs", None)
    if not outputs or len(outputs) != 1:
        return None
    shape = getattr(outputs[0], "shape", None)
    if not shape or shape[-1] is None:
        return None
    return int(shape[-1])


def check_inputs(model: keras.Model, x: Any, y: Any) -> bool:
    """Raise :class:`RangeTestError` for non-finite inputs or class indices the model's output
    cannot hold. Returns whether the inputs could be checked (in-memory data)."""
    arrays = in_memory_arrays(x, y)
    if arrays is None:
        return False
    leaves, labels = arrays
    for leaf in leaves:
        values = np.asarray(leaf)
        if np.issubdtype(values.dtype, np.floating):
            bad = ~np.isfinite(values)
            if bad.any():
                first = int(np.argwhere(bad.reshape(len(values), -1).any(axis=1))[0, 0])
                raise RangeTestError(
                    f"The training inputs contain {int(bad.sum())} non-finite values (NaN or "
                    f"inf), the first in example {first}. Clean or impute them before the "
                    "range test: a NaN input makes the loss NaN, which would be read as "
                    "divergence."
                )
    width = _output_width(model)
    if labels is None or width is None or width < 2:
        return True
    values = np.asarray(labels)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or values.size == 0:
        return True  # one-hot or other targets: nothing to check here
    if not np.issubdtype(values.dtype, np.integer):
        if not np.issubdtype(values.dtype, np.floating) or not np.all(np.mod(values, 1) == 0):
            return True
    low, high = values.min(), values.max()
    if low < 0 or high >= width:
        raise RangeTestError(
            f"Class labels range from {low:g} to {high:g}, but the model has {width} outputs "
            f"(classes 0..{width - 1}). Fix the labels or the model's output width."
        )
    return True
