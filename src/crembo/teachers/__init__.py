"""Teachers: anything that gives a belief P (n, k) over the estimator's classes.

``make_teacher`` accepts

- an sklearn ensemble with ``estimators_`` of classifiers (random forest, extra trees, bagging,
  hard voting): belief = fraction of members voting for each class (the paper's hard votes;
  AdaBoost and soft voting can vote with ``belief="votes"``),
- any classifier with ``predict_proba`` (gradient boosting, an MLP, a pipeline, stacking, XGBoost,
  LightGBM, ...),
- a PyTorch ``nn.Module`` returning logits (``TorchTeacher``; torch is an optional extra),
- a callable returning logits or probabilities (wrap it in ``CallableTeacher`` to say which),
- a precomputed belief matrix (``BeliefTeacher``; rows aligned with the training X).

``belief=`` chooses how a model's belief is read: "auto" (hard votes for sklearn forests,
bagging and hard voting; ``predict_proba`` for everything else, AdaBoost and soft voting
included; softmax of logits for torch modules), "proba", "votes" or "logits". Hard votes are
defined only where every member of an ensemble is a classifier on its own:

- sklearn RandomForest, ExtraTrees, Bagging, Voting and AdaBoost: each member's ``predict``.
- LightGBM ``boosting_type="rf"``: each iteration's tree(s) start from the same initial score
  (the bias is folded into every tree) and the forest's probability is the link of the *mean*
  of the members' raw scores. Member t's vote is the class of its own raw score: class 1 iff
  score > 0 (binary), else the argmax over the per-class trees of iteration t.
- XGBoost random forests (``XGBRFClassifier``, or ``num_parallel_tree`` trees trained in one
  boosting round): XGBoost stores each parallel tree's leaf weight divided by
  ``num_parallel_tree``, so member t's own margin is ``base_margin + num_parallel_tree * w_t(x)``
  -- exactly the margin of a one-tree forest -- and the forest's margin is the mean of the
  members' margins. Member t votes class 1 iff its margin > 0 (binary), else the argmax over
  the classes of the t-th parallel tree of every class.

Boosted models (sklearn gradient boosting, XGBoost/LightGBM with more than one boosting round
of trees, dart) have no such members: each tree is a regression step on the residuals of the
trees before it and predicts no class on its own, so ``belief="votes"`` raises ValueError
there; use their probabilities.

Class labels of any type are mapped by value: a teacher's ``classes_`` (its column or vote
labels) are looked up in the target classes (the estimator's ``classes_ = np.unique(y)``), so
strings and gapped integer labels stay consistent. A teacher class absent from the targets is
an error (its belief mass would have nowhere to go). Regressors and multi-output teachers are
errors too. An unfitted XGBoost classifier is fitted on the codes of ``np.unique(y)`` (XGBoost
only accepts labels 0..k-1) and reports the original labels.

Vote counting of sklearn forests by a native walk of their trees: ``crembo.teachers.forest``.
"""

from crembo.teachers._base import BeliefTeacher, Teacher, class_index_map, compute_belief
from crembo.teachers._boosting import LightGBMVoteTeacher, XGBoostVoteTeacher
from crembo.teachers._callable import CallableTeacher
from crembo.teachers._make import DeferredTeacher, make_teacher
from crembo.teachers._sklearn import ProbaTeacher, VoteTeacher, default_teacher
from crembo.teachers._torch import TorchTeacher

__all__ = [
    "Teacher",
    "VoteTeacher",
    "ProbaTeacher",
    "CallableTeacher",
    "BeliefTeacher",
    "TorchTeacher",
    "XGBoostVoteTeacher",
    "LightGBMVoteTeacher",
    "DeferredTeacher",
    "make_teacher",
    "default_teacher",
    "compute_belief",
    "class_index_map",
]
