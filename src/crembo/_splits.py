"""Which training rows a selection scores on: stratified subsamples, one held-out split, K folds.

A class seen once cannot be split: its row stays in every training part (with a warning from
the estimator), where the student can learn it and no held-out row can score it.
"""

import warnings

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

__all__ = ["subsample_rows", "warn_singletons", "stratified_split", "split_rows"]


def subsample_rows(y, max_rows, seed):
    """Sorted indices of a stratified subsample of at most ``max_rows`` rows (all when fewer);
    every class keeps at least one row."""
    n = len(y)
    if max_rows is None or n <= max_rows:
        return np.arange(n)
    rng = np.random.RandomState(seed)
    keep = []
    classes, y_idx, counts = np.unique(y, return_inverse=True, return_counts=True)
    for c in range(len(classes)):
        members = np.flatnonzero(y_idx == c)
        take = max(1, round(max_rows * counts[c] / n))
        keep.append(rng.choice(members, min(take, members.size), replace=False))
    return np.sort(np.concatenate(keep))


def warn_singletons(classes, single):
    """Warn that the classes at indices ``single`` have one sample each (kept for training)."""
    names = [classes.tolist()[c] for c in single]
    warnings.warn(
        f"class(es) {names} have a single sample: it stays in the training part and no validation row can score it",
        UserWarning,
        stacklevel=4,
    )


def stratified_split(y_enc, classes, fraction, seed):
    """(train, validation) row indices of a stratified split of encoded labels ``y_enc``.

    The rows of a class seen once stay in the training part (with a warning): the student can
    learn them, validation cannot score them. ValueError when the other rows cannot be split.
    """
    single = np.flatnonzero(np.bincount(y_enc, minlength=len(classes)) == 1)
    if single.size:
        warn_singletons(classes, single)
    tr, va, lone = _holdout(y_enc, fraction, seed)
    if lone.size:  # without singletons the indices are train_test_split's own, as before
        tr = np.concatenate([tr, lone])
    return tr, va


def _holdout(y, fraction, seed):
    """(train, validation, lone): a stratified split of the rows whose class has two or more
    samples, and the rows of classes seen once (they belong in training). ValueError naming the
    sizes when the split is impossible."""
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    lone = counts[inverse] < 2
    pool = np.flatnonzero(~lone)
    try:
        tr, va = train_test_split(pool, test_size=fraction, stratify=y[pool], random_state=seed)
    except ValueError as exc:
        raise ValueError(
            f"cannot split {pool.size} samples of {int((counts >= 2).sum())} classes with validation_fraction="
            f"{fraction}: {exc}"
        ) from exc
    return tr, va, np.flatnonzero(lone)


def split_rows(y, folds, repeats, fraction, seed):
    """(train, held-out) index pairs: K stratified folds x repeats, or (folds == 1) one stratified
    split of ``fraction``. Rows of a class seen once stay in every training part; K is at most
    the largest class's size (8 rows of 4 classes get 2 folds)."""
    y = np.asarray(y)
    classes, counts = np.unique(y, return_counts=True)
    single = np.isin(y, classes[counts < 2])
    pool = np.flatnonzero(~single)
    always = np.flatnonzero(single)
    if pool.size < 2:
        raise ValueError(
            f"cannot validate on {len(y)} samples of {len(classes)} classes: every class has a single sample"
        )
    out = []
    if folds == 1:
        for r in range(repeats):
            tr, va, lone = _holdout(y, fraction, seed + r)
            out.append((np.sort(np.concatenate([tr, lone])), np.sort(va)))
        return out
    folds = min(folds, int(counts.max()))
    for r in range(repeats):
        skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + r)
        with warnings.catch_warnings():  # a class with fewer rows than folds: sklearn's notice
            warnings.simplefilter("ignore", UserWarning)
            for tr, va in skf.split(pool, y[pool]):
                out.append((np.sort(np.concatenate([pool[tr], always])), pool[va]))
    return out
