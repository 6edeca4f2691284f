"""The files a tuning study writes into its output folder (a run directory or ``tune --out``).

Pure: the names only, so the pipeline's run directory can name them without importing Optuna.
"""

from __future__ import annotations

#: the result (choices, evidence, cost)
TUNING_JSON = "tuning.json"
#: plots and the tuning range test's curve
TUNING_DIR = "tuning"
#: the default Optuna storage (SQLite)
TUNING_DB = "tuning.db"
#: inside TUNING_DIR
TUNING_RANGE_TEST_JSON = "range_test.json"
TUNING_RANGE_TEST_PNG = "range_test_for_tuning.png"
WEIGHT_DECAY_PNG = "weight_decay.png"
BN_MOMENTUM_PNG = "bn_momentum.png"
