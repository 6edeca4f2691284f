"""Reference architectures (Keras 3, channels last, any backend).

>>> from superconverge import models
>>> model = models.build("resnet20", (32, 32, 3), 10, weight_decay=1e-4)   # doctest: +SKIP
>>> models.set_bn_momentum(model, 0.95)                                       # doctest: +SKIP

Models are returned uncompiled, ending in a float32 ``softmax`` (compile with
``"sparse_categorical_crossentropy"``) unless built with ``output="logits"``.
"""

from superconverge.models.bn import batch_norm_layers, set_bn_momentum
from superconverge.models.compile import compile_classifier
from superconverge.models.errors import ModelInputError, UnknownModelError
from superconverge.models.fused_bn import fuse_batch_norm
from superconverge.models.layers import caffe_l2
from superconverge.models.registry import available, build, register

__all__ = [
    "ModelInputError",
    "UnknownModelError",
    "available",
    "batch_norm_layers",
    "build",
    "caffe_l2",
    "compile_classifier",
    "fuse_batch_norm",
    "register",
    "set_bn_momentum",
]
