"""Data sets for super-convergence experiments, as NumPy arrays plus a Keras batch feeder.

>>> from superconverge import data
>>> splits = data.load("fashion_mnist", validation_split=0.1, seed=0)   # doctest: +SKIP
>>> model.fit(splits.train_batches(128, augment=True), validation_data=splits.val.as_tuple())

Every data set comes back as :class:`DatasetSplits` (``train``/``val``/``test`` of ``float32``
``x`` in ``[0, 1]`` — or standardised, see ``scaling`` — and ``int32`` ``y``). Importing this
package does not import Keras; only ``train_batches`` (and image folders / downloads) do.
"""

from superconverge.data.augment import Augmentation, random_crop, random_flip
from superconverge.data.errors import (
    CorruptDataError,
    DataError,
    DataNotFoundError,
    EmptyDatasetError,
    UnknownDatasetError,
)
from superconverge.data.idx import encode_idx, read_idx
from superconverge.data.locate import ENV_VAR
from superconverge.data.registry import available, load, register
from superconverge.data.splits import DatasetSplits, RawData, Split

__all__ = [
    "ENV_VAR",
    "Augmentation",
    "CorruptDataError",
    "DataError",
    "DataNotFoundError",
    "DatasetSplits",
    "EmptyDatasetError",
    "RawData",
    "Split",
    "UnknownDatasetError",
    "available",
    "encode_idx",
    "load",
    "random_crop",
    "random_flip",
    "read_idx",
    "register",
]
