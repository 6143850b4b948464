"""crembo: compress a large classifier into a small, robust one with CREMBO and MEMO.

Armstrong & Gilad-Bachrach, "Robust Model Compression Using Deep Hypotheses", AAAI 2021.
"""

__version__ = "0.1.0"

from crembo import export, metrics, plotting
from crembo._memo import MemoResult, NoConsistentThresholdWarning, memo
from crembo._selection import SelectionSpec
from crembo._threads import openmp_enabled, resolve_n_threads
from crembo.backends import available_backends, current_backend_name, get_backend, set_backend, use_backend
from crembo.beliefs import (
    allowed_labels,
    belief_from_logits,
    belief_from_proba,
    belief_from_votes,
    check_belief,
    thresholds,
    vote_counts,
)
from crembo.depth import (
    count_consistent,
    hypothesis_depth,
    hypothesis_depths,
    is_consistent,
    pointwise_depth,
    quantile_depth,
)
from crembo.estimator import CREMBOClassifier, TeacherLabelBaseline, TrueLabelBaseline, fit_baseline_bm, fit_baseline_vt
from crembo.oracles import Oracle, as_oracle
from crembo.teachers import BeliefTeacher, CallableTeacher, make_teacher
from crembo.tree import AllowedLabelTreeClassifier

__all__ = [
    "SelectionSpec",
    # kernels: beliefs and depths
    "allowed_labels",
    "belief_from_logits",
    "belief_from_proba",
    "belief_from_votes",
    "check_belief",
    "thresholds",
    "vote_counts",
    "count_consistent",
    "hypothesis_depth",
    "hypothesis_depths",
    "is_consistent",
    "pointwise_depth",
    "quantile_depth",
    # backends and threads
    "available_backends",
    "current_backend_name",
    "get_backend",
    "set_backend",
    "use_backend",
    "openmp_enabled",
    "resolve_n_threads",
    # algorithms, estimators, teachers, students
    "memo",
    "MemoResult",
    "NoConsistentThresholdWarning",
    "CREMBOClassifier",
    "TrueLabelBaseline",
    "TeacherLabelBaseline",
    "fit_baseline_bm",
    "fit_baseline_vt",
    "make_teacher",
    "BeliefTeacher",
    "CallableTeacher",
    "Oracle",
    "as_oracle",
    "AllowedLabelTreeClassifier",
    # modules
    "export",
    "metrics",
    "plotting",
]
