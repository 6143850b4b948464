"""The teacher protocol, and what every teacher shares: class mapping and chunked beliefs."""

import numpy as np

from crembo import _validation as v
from crembo.beliefs import check_belief


def class_index_map(teacher_classes, classes):
    """Index of each teacher class in ``classes`` (int64 array); ValueError if one is missing."""
    lookup = {c: i for i, c in enumerate(np.asarray(classes).tolist())}
    out = np.empty(len(teacher_classes), dtype=np.int64)
    missing = []
    for j, c in enumerate(np.asarray(teacher_classes).tolist()):
        i = lookup.get(c)
        if i is None:
            missing.append(c)
        else:
            out[j] = i
    if missing:
        raise ValueError(
            f"the teacher knows class(es) {missing} that are not in the training labels "
            f"{np.asarray(classes).tolist()}; fit the teacher on the same labels as the student"
        )
    return out


class Teacher:
    """A source of beliefs. ``classes_`` are the labels of its columns (None: the target classes)."""

    classes_ = None

    def belief(self, X, classes):
        """(n, len(classes)) float64 belief of the teacher on X, columns aligned with ``classes``."""
        raise NotImplementedError

    def predict(self, X, classes):
        """The teacher's hard labels as indices into ``classes`` (argmax of its belief; ties -> lowest)."""
        return np.argmax(self.belief(X, classes), axis=1)

    def _columns(self, classes, width):
        """Map this teacher's columns to indices into ``classes``."""
        if self.classes_ is None:
            if width != len(classes):
                raise ValueError(
                    f"the teacher gives {width} columns but there are {len(classes)} classes; "
                    "pass classes= to say which label each column is"
                )
            return np.arange(width)
        if width != len(self.classes_):
            raise ValueError(f"the teacher gives {width} columns but declares {len(self.classes_)} classes")
        return class_index_map(self.classes_, classes)


def _scatter_columns(values, cols, n_classes):
    """Place columns of ``values`` at positions ``cols`` of an (n, n_classes) zero matrix."""
    if values.shape[1] == n_classes and np.array_equal(cols, np.arange(n_classes)):
        return values
    out = np.zeros((values.shape[0], n_classes), dtype=values.dtype)
    out[:, cols] = values
    return out


# Rows of X a teacher predicts at a time: bounds the transient memory of inference (a chunk of
# predict_proba output, or T x chunk int64 member votes: 52 MB for 100 members) whatever n is.
DEFAULT_CHUNK_SIZE = 65536


def _rows(X, start, stop):
    """Rows start:stop of an array, sparse matrix, DataFrame or list."""
    return X.iloc[start:stop] if hasattr(X, "iloc") else X[start:stop]


def _check_chunk_size(chunk_size):
    chunk_size = v.check_int(chunk_size, "chunk_size", low=1, allow_none=True)
    return DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size


def _check_dtype(dtype):
    return v.check_float_dtype(dtype, "a belief's dtype")


def _chunked_belief(fn, X, n_classes, chunk_size, dtype):
    """Fill an (n, n_classes) belief of ``dtype`` with ``fn(rows)`` -> (rows, n_classes) chunk by chunk."""
    n = v.n_rows(X)
    if n <= chunk_size:
        return np.asarray(fn(X), dtype=dtype)
    out = np.empty((n, n_classes), dtype=dtype)
    for start in range(0, n, chunk_size):
        stop = min(start + chunk_size, n)
        out[start:stop] = fn(_rows(X, start, stop))
    return out


def compute_belief(teacher, X, classes, dtype=np.float64):
    """``teacher.belief(X, classes)`` as ``dtype`` (float32 or float64).

    crembo's chunked teachers write float32 directly (no float64 copy of the whole belief);
    other teachers' float64 result is converted.
    """
    dtype = _check_dtype(dtype)
    if dtype is np.float64:
        return teacher.belief(X, classes)
    if getattr(teacher, "_accepts_dtype", False):
        return teacher.belief(X, classes, dtype=dtype)
    return np.asarray(teacher.belief(X, classes), dtype=dtype)


class BeliefTeacher(Teacher):
    """A precomputed belief matrix; row i is the belief on training sample i.

    ``belief(X, classes)`` only answers for the X it was computed on (same number of rows);
    ``subset(rows)`` selects the rows of a split.
    """

    def __init__(self, belief, classes=None, backend=None):
        self.matrix = check_belief(belief, backend=backend)
        self.backend = backend
        self.classes_ = None if classes is None else np.asarray(classes)
        if self.classes_ is not None and len(self.classes_) != self.matrix.shape[1]:
            raise ValueError(f"belief has {self.matrix.shape[1]} columns but {len(self.classes_)} classes were given")

    def subset(self, rows):
        return BeliefTeacher(self.matrix[rows], self.classes_, self.backend)

    _accepts_dtype = True

    def belief(self, X, classes, dtype=np.float64):
        n = v.n_rows(X)
        if n != self.matrix.shape[0]:
            raise ValueError(
                f"a precomputed belief has {self.matrix.shape[0]} rows and cannot describe {n} new samples"
            )
        p = np.asarray(self.matrix, dtype=_check_dtype(dtype))
        return _scatter_columns(p, self._columns(classes, p.shape[1]), len(classes))
