"""The stratified validation split of ``CREMBOClassifier`` from class counts alone.

``CREMBOClassifier.fit`` holds out ``train_test_split(arange(n), test_size=f, stratify=y,
random_state=seed)``. Which rows that picks depends only on the class counts and the seed:
scikit-learn's ``StratifiedShuffleSplit`` draws how many of each class go to each side, then a
permutation of each class's rows (in row order). So the client draws the same numbers from the
counts and sends each partition a bit per row of each class (packed: n / 8 bytes in all) saying
which are validation rows: the same rows as the local split, while the labels stay on the
workers.
"""

import numpy as np
from sklearn.model_selection._split import _validate_shuffle_split
from sklearn.utils import check_random_state
from sklearn.utils.extmath import _approximate_mode

__all__ = ["unpack_mask", "validation_masks"]


def validation_masks(class_counts, fraction, seed, classes, part_counts):
    """Per partition, per class, the packed (``np.packbits``) mask over the partition's rows of
    that class (in row order) of those in the validation split.

    ``part_counts`` (P, k) are the partitions' class counts in row order. The held-out rows are
    those of ``crembo.estimator.stratified_split`` (tests check it), with the same errors for
    impossible splits. One class's permutation and mask exist at a time (8 + 1 bytes per row of
    the class), so the client's peak stays a fraction of n bytes.
    """
    counts = np.asarray(class_counts, dtype=np.int64)
    if counts.min() < 2:
        c = int(np.argmin(counts))
        raise ValueError(
            f"class {np.asarray(classes).tolist()[c]!r} has only {counts[c]} sample(s); a stratified "
            "validation split needs at least 2 per class"
        )
    n, k = int(counts.sum()), counts.size
    try:
        n_train, n_test = _validate_shuffle_split(n, fraction, None, default_test_size=0.25)
        if n_train < k or n_test < k:
            raise ValueError(f"train ({n_train}) and validation ({n_test}) sizes must be >= the {k} classes")
    except ValueError as exc:
        raise ValueError(f"cannot split {n} samples of {k} classes with validation_fraction={fraction}: {exc}") from exc
    part_counts = np.asarray(part_counts, dtype=np.int64)
    starts = np.vstack([np.zeros((1, k), np.int64), np.cumsum(part_counts, axis=0)])
    rng = check_random_state(seed)
    n_i = _approximate_mode(counts, n_train, rng)
    t_i = _approximate_mode(counts - n_i, n_test, rng)
    out = [[None] * k for _ in range(part_counts.shape[0])]
    for c in range(k):  # one permutation per class, in class order, as scikit-learn draws them
        perm = rng.permutation(counts[c])
        mask = np.zeros(counts[c], dtype=bool)
        mask[perm[n_i[c] : n_i[c] + t_i[c]]] = True
        del perm
        for p in range(part_counts.shape[0]):
            out[p][c] = np.packbits(mask[starts[p, c] : starts[p + 1, c]])
    return out


def unpack_mask(bits, n):
    """The bool mask of ``n`` rows packed by ``validation_masks``."""
    return np.unpackbits(bits, count=n).view(bool)
