"""Every default that more than one module uses, once, with its reason. Pure: no imports.

Signatures elsewhere refer to these names; a caller that differs on purpose says why next to
its own value.
"""

from __future__ import annotations

#: One Cycle momentum (or Adam β1) bounds (max, min): Smith 2018 §4.4, "0.95 to 0.85 works
#: well"; the momentum falls while the LR rises and rises back while it falls.
DEFAULT_MOMENTA: tuple[float, float] = (0.95, 0.85)

#: min LR = max LR / this: Smith's cycle spans a factor of about 10 (his Fig. 1; fastai's
#: ``div=25`` and PyTorch's ``div_factor=25`` span more).
MIN_LR_RATIO: float = 10.0

#: The range test stops once the smoothed loss exceeds this many times its best value: the
#: curve has clearly blown up (fastai and torch-lr-finder stop at 4× too).
DIVERGENCE_FACTOR: float = 4.0

#: Debiasing EMA factor β of the loss the range test logs and fastai's methods read
#: (fastai, torch-lr-finder and Lightning all use 0.98).
LOSS_EMA_BETA: float = 0.98

#: Range-test sweep of the library function: as low as anything trains, up to where
#: everything diverges (fastai's and torch-lr-finder's defaults are 1e-7 and 10).
RANGE_START_LR: float = 1e-7
RANGE_END_LR: float = 10.0

#: The pipeline and tuning start their sweeps higher: their one-epoch sweep of a few hundred
#: steps spends fewer of them on the flat start of the curve (nothing trains below 1e-5 in a
#: single epoch of a BN network), so the part that matters is sampled more densely.
PIPELINE_RANGE_START_LR: float = 1e-5

#: Range tests the pipeline averages (``range_repeats``), each from its own initialisation and
#: shuffle. One by default: four sweeps cut resnet20's seed-to-seed spread from 0.17 to 0.07
#: decade on stored curves (benchmarks/results/lr_spread_averaged.md), but trained at their
#: picks three sweeps moved auto's regret by only -0.19 +- 1.58 points over 36 repetitions
#: (benchmarks/results/lr_repeats.md), and each repeat costs a range test (about an epoch).
PIPELINE_RANGE_REPEATS: int = 1
#: seed of repeat ``i`` of the range test: ``seed + i * RANGE_REPEAT_SEED_STRIDE`` (far from the
#: seeds of neighbouring runs, so a repeat never re-draws another run's initialisation)
RANGE_REPEAT_SEED_STRIDE: int = 104_729

#: What the pipeline's ``suggest_method = "auto"`` reads the bounds with under an adaptive
#: optimizer (Adam, AdamW): fastai's ``minimum`` (the LR of the smoothed loss's minimum / 10).
#: ``auto``'s margin below divergence was chosen under SGD; under Adam the divergence point lies
#: one to two decades above the usable LR (regret over 4 tasks x 3 seeds at 4 epochs: ``auto``
#: 6.25 +- 15.84 points, ``minimum`` 0.36 +- 0.52: the lowest on two tasks, within 0.14 on the
#: others, chosen with any task held out; benchmarks/results/lr_selection_adam/).
ADAPTIVE_OPTIMIZERS: tuple[str, ...] = ("adam", "adamw")
ADAPTIVE_OPTIMIZER_METHOD: str = "minimum"
#: Keras optimizer classes of that kind: ``RangeTestResult.suggest(method="auto")`` warns on a
#: curve swept with one of them
ADAPTIVE_OPTIMIZER_CLASSES: frozenset[str] = frozenset({"Adam", "AdamW", "Adamax", "Nadam"})

#: Max-LR trials (``superconverge.finder.trials``): candidates ``pick · 10^o`` around the range
#: test's pick, one third of a decade apart, a short One Cycle at each scored on validation
#: (benchmarks/results/lr_trials.md).
LR_TRIAL_OFFSETS: tuple[float, ...] = (-1 / 3, 0.0, 1 / 3)
#: The pipeline's trials (``lr_trial_fraction``): each runs this fraction of the planned
#: one-cycle steps; 0 = no trials (the range test's pick trains).
PIPELINE_LR_TRIAL_FRACTION: float = 0.0
#: Trials that never left chance accuracy cannot rank their candidates: the pipeline keeps the
#: range test's pick unless the best trial's accuracy covers at least this share of the way
#: from chance (1 / classes) to 1 (``TrialResult.learned``). Seen on a CNN without batch norm
#: whose 12-step trials ended at 10.0-11.4 % on 10 classes (benchmarks/results/
#: lr_trials_fresh_tasks2_plan.md); no trial of the other tasks came near it.
LR_TRIAL_MIN_PROGRESS: float = 0.1
#: A trial winner above the range test's pick is confirmed by trials this many times longer,
#: at the pick and the winner, before it replaces the pick (``confirm_upward_move``): short
#: trials liked LRs whose whole runs collapsed (benchmarks/results/lr_trials_confirm_plan.md).
LR_TRIAL_CONFIRM_FACTOR: int = 2

#: The pipeline's one-cycle recipe: the combination that won on the validation split of the
#: recipe ablation (Fashion-MNIST, simple_cnn, 4 epochs; benchmarks/results/recipe_ablation.md):
#: constant Nesterov momentum 0.9 (the one clear lever: +0.81 points of validation accuracy
#: alone), with batch 64, weight decay 2.5e-4, label smoothing 0.1 and an EMA of the weights
#: (0.995) with precise BN (each within the noise alone, +0.25 together); 3 seeds: 92.02 ± 0.19 %
#: test. Since then the weight decay, the EMA, the LR shape and the batch have changed (each
#: below, with its measurement). The step-decay baseline keeps its own batch and weight decay
#: (BASELINE_*).
PIPELINE_MOMENTA: tuple[float, float] = (0.9, 0.9)
#: ``None`` = automatic: Nesterov for SGD (measured, above); Adam and AdamW have none
PIPELINE_NESTEROV: bool | None = None
PIPELINE_BATCH_SIZE: int = 64
#: ``RunConfig.batch_size = None`` (the default) chooses the one-cycle batch from the run's
#: length (``superconverge.batch_rule``): the largest of 64, 32, 16 whose cycle has at least
#: this many optimizer steps. Found on resnet20 (12,000 Fashion-MNIST images, N/5 = 4 epochs,
#: 752 steps at 64: test −0.97 ± 0.47 points against the 20-epoch baseline at batch 64,
#: −0.25 ± 0.41 at 32) and simple_cnn on all 54,000 (3,376 steps at 64: 64 ahead by 0.32 on
#: validation); checked on cells it was not fitted on (benchmarks/results/batch_rule_check.md,
#: 3 seeds, validation): simple_cnn 12,000 × 4 and × 5 epochs +0.42 and +0.30 for 32,
#: 9,000 × 2 epochs 16 best (+0.36 over 64), 18,000 × 4 (1,128 steps) a tie (+0.11 ± 0.28).
PIPELINE_MIN_CYCLE_STEPS: int = 1000
PIPELINE_SMALLEST_BATCH_SIZE: int = 16
#: Weight decay 1e-4 and no weight average replaced 2.5e-4 and an EMA of 0.995 once the
#: warm-up + cosine shape was the default (same ablation, 4 epochs, 3 seeds, validation):
#: 1e-4 alone +0.22 points, 1e-4 without the EMA +0.33 (per seed +0.40, +0.15, +0.43; test
#: 92.37 ± 0.01 % against 92.13 ± 0.07 %); an EMA of 0.998 +0.02, 5e-5 −0.02. A plausible
#: reason, not tested: with the LR decaying to 0 the EMA only lags behind the last weights.
#: At 8 epochs (budget curves, 3 seeds) the two tie on validation (+0.03 ± 0.11).
PIPELINE_WEIGHT_DECAY: float = 1e-4
PIPELINE_LABEL_SMOOTHING: float = 0.1
PIPELINE_EMA_MOMENTUM: float | None = None
PIPELINE_PRECISE_BN: bool = True
#: PyTorch's fused batch-norm kernel for the BN layers of the pipeline's models on the torch
#: backend (``superconverge.models.fused_bn``: Keras's formula, one kernel; no-op elsewhere)
PIPELINE_FUSED_BN: bool = True
#: The one-cycle LR shape (``RunConfig.lr_shape``): "warmup_cosine" (0 → max linearly over 10%
#: of the steps, cosine to 0) won on validation over Smith's linear min → max → min +
#: annihilation, paired on seeds 0-2 with the rest of the recipe above (peers benchmark, the
#: pipeline's default at E epochs): +0.28 ± 0.17 (E = 2), +0.11 ± 0.19 (E = 4), -0.01 ± 0.44
#: (E = 8) points of validation accuracy; recipe ablation at E = 4: +0.23.
PIPELINE_LR_SHAPE: str = "warmup_cosine"
#: Share of the one-cycle steps spent warming the LR up from 0 to max (``lr_shape``
#: "warmup_cosine" / "warmup_linear"; ``RunConfig.warmup_fraction``): Keras' and timm's usual
#: 10%, the value those shapes were measured with.
PIPELINE_WARMUP_FRACTION: float = 0.1

#: What `run --tune` and `superconverge tune` may spend on their short runs by default, in
#: final runs (training examples × epochs): each short run trains on the share of the training
#: split that makes the default search (grid + bisection + momenta) cost at most this much
#: (issue 17: tune + train well under half the baseline's time). ``None`` in the library
#: (Smith's full-data short runs); ``--budget`` adds runs beyond the default search.
PIPELINE_TUNING_COST: float = 1.0

#: The usual step-decay recipe the pipeline compares against (batch 128, Caffe weight decay
#: 5e-4, as in the CIFAR ResNet papers); the one-cycle levers never change it.
BASELINE_BATCH_SIZE: int = 128
BASELINE_WEIGHT_DECAY: float = 5e-4
