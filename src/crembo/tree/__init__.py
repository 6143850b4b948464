"""The allowed-label decision tree: MEMO/CREMBO's native consistency oracle.

A Python driver (``grower``) over small Cython kernels (``crembo._ext._tree_binning``,
``_tree_histogram``, ``_tree_splitting``), checked against ``reference_tree``.
"""

from crembo.tree.binning import BinnedData, bin_features
from crembo.tree.estimator import AllowedLabelTreeClassifier
from crembo.tree.export import export_text

__all__ = ["AllowedLabelTreeClassifier", "BinnedData", "bin_features", "export_text"]
