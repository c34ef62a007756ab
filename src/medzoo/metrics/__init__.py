"""medzoo.metrics: classification figures, bootstrap CIs and the evaluation protocol.

Usable on plain NumPy arrays::

    from medzoo.metrics import binary_metrics, choose_threshold, bootstrap_ci
"""

from medzoo.metrics.bootstrap import bootstrap_ci
from medzoo.metrics.classification import (
    BINARY_FIGURES,
    binary_confusion,
    binary_metrics,
    choose_threshold,
    grouped_binary,
    multiclass_metrics,
)
from medzoo.metrics.protocol import (
    BootstrapSpec,
    DecisionRule,
    Predictions,
    ThresholdRule,
    binary_block,
    evaluate_predictions,
)

__all__ = [
    "BINARY_FIGURES",
    "BootstrapSpec",
    "DecisionRule",
    "Predictions",
    "ThresholdRule",
    "binary_block",
    "binary_confusion",
    "binary_metrics",
    "bootstrap_ci",
    "choose_threshold",
    "evaluate_predictions",
    "grouped_binary",
    "multiclass_metrics",
]
