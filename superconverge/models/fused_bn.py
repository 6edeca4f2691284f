"""PyTorch's fused batch-norm kernel for the ``BatchNormalization`` layers of any Keras model.

On the torch backend, Keras computes batch norm as a chain of tensor operations (mean,
square, subtract, multiply, add: each a pass over the activations, forward and backward). The
same formula is one ATen kernel, ``torch.native_batch_norm``, which on this machine's CPU runs
a BN layer's forward + backward about 2× faster and a ``simple_cnn`` training step about 20%
faster (``benchmarks/native_parity.py``, variant ``fit_fused_bn``).

:class:`FusedBatchNormalization` is Keras's layer with only ``call`` replaced; the formula is
Keras's, term for term:

    training:   y = γ · (x − μ_B) / √(σ²_B + ε) + β,   σ²_B the biased batch variance,
                moving_mean ← m · moving_mean + (1 − m) · μ_B   (same for the variance)
    inference:  y = γ · (x − moving_mean) / √(moving_variance + ε) + β

Anything the kernel does not cover falls back to Keras's own ``call``: another backend, a
mask, ``renorm``, ``synchronized``, a BN axis other than the last, inputs or a compute dtype
other than float32 (mixed precision).

:func:`fuse_batch_norm` switches the BN layers of a built model to it, in place (it changes
the class of each layer, which holds no state of its own: weights, optimizer slots and
compiled functions stay valid). A fused layer serializes as Keras' own, so ``model.save``
writes files that load without superconverge, as plain Keras layers.
"""

from __future__ import annotations

import logging
from typing import Any

import keras

from superconverge.models.bn import batch_norm_layers

__all__ = ["FusedBatchNormalization", "fuse_batch_norm", "fusion_available"]

logger = logging.getLogger(__name__)


def fusion_available() -> bool:
    """Whether the fused kernel applies: the torch backend."""
    return keras.backend.backend() == "torch"


class FusedBatchNormalization(keras.layers.BatchNormalization):
    """Keras ``BatchNormalization`` computed by ``torch.native_batch_norm`` (module docstring)."""

    def _fusable(self, inputs: Any, mask: Any) -> bool:
        rank = len(inputs.shape)
        return (
            fusion_available()
            and mask is None
            and not self.renorm
            and not self.synchronized
            and self.axis in (-1, rank - 1)
            and rank >= 2
            and keras.backend.standardize_dtype(inputs.dtype) == "float32"
            and self.compute_dtype == "float32"
        )

    def call(self, inputs: Any, training: Any = None, mask: Any = None) -> Any:
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import torch  # the torch backend is in use (checked above)

        x = inputs.movedim(-1, 1)  # a view: the kernel wants channels at dim 1
        gamma = self.gamma.value if self.scale else None
        beta = self.beta.value if self.center else None
        if training and self.trainable:
            outputs, batch_mean, inverse_std = torch.native_batch_norm(
                x, gamma, beta, None, None, True, 0.0, self.epsilon
            )
            with torch.no_grad():
                # the kernel returns 1/√(σ²_B + ε) with the biased σ²_B, as Keras uses
                batch_variance = inverse_std.pow(-2) - self.epsilon
                m = self.momentum
                self.moving_mean.assign(self.moving_mean.value * m + batch_mean * (1.0 - m))
                self.moving_variance.assign(
                    self.moving_variance.value * m + batch_variance * (1.0 - m)
                )
        else:
            outputs = torch.nn.functional.batch_norm(
                x, self.moving_mean.value, self.moving_variance.value, gamma, beta,
                training=False, eps=self.epsilon,
            )
        return outputs.movedim(1, -1)


# Keras names a layer's weights in a saved file after its class (snake case): the fused class
# carries Keras' class name, so a file saved from a fused model holds the weights where a plain
# Keras model looks for them (its repr reads ``<BatchNormalization ...>``, as Keras' does).
FusedBatchNormalization.__name__ = FusedBatchNormalization.__qualname__ = "BatchNormalization"


def _serialize_as_keras_layer() -> None:
    """Make a fused layer serialize as ``keras.layers.BatchNormalization`` (its config is that
    layer's, unchanged), so any ``model.save`` of a fused model writes a file plain Keras loads.
    Keras finds a class's public name in ``keras.src.api_export``; where that table is missing
    (another Keras version) the class is registered as ``superconverge>...`` instead, and
    such files load with superconverge imported."""
    try:
        from keras.src import api_export

        names = api_export.REGISTERED_OBJS_TO_NAMES
        names[FusedBatchNormalization] = names[keras.layers.BatchNormalization]
    except (ImportError, AttributeError, KeyError):  # pragma: no cover - other Keras versions
        keras.saving.register_keras_serializable(package="superconverge")(
            FusedBatchNormalization)


_serialize_as_keras_layer()


def fuse_batch_norm(model: keras.Model) -> int:
    """Make every plain Keras ``BatchNormalization`` layer of ``model`` (nested models too) a
    :class:`FusedBatchNormalization`, in place; returns how many were switched. Subclasses of
    the Keras layer (a user's own BN) are left alone. A no-op (0) off the torch backend."""
    if not fusion_available():
        return 0
    switched = 0
    for layer in batch_norm_layers(model):
        if type(layer) is keras.layers.BatchNormalization:
            layer.__class__ = FusedBatchNormalization
            switched += 1
    if switched:
        logger.debug("fused batch norm: %d layers of %s", switched, model.name)
    return switched
