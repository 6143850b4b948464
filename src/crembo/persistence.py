"""Saving and loading students safely: skops files by default, pickle/joblib only when trusted.

A skops file is a zip of JSON and arrays; loading it builds only the types it is told to trust,
so a file cannot run code the way an unpickled file can. ``load_student`` trusts crembo's and
scikit-learn's own classes (the ones a CREMBO student is made of) and refuses every other type
unless the caller lists it in ``trusted``.

``load_model`` is the teacher loader of the command line: ``.skops`` files as above, and
``.pkl``/``.pickle``/``.joblib`` files only with ``trust_pickle=True``, because unpickling runs
arbitrary code from the file.
"""

import copy
import importlib
import os
import zipfile
from pathlib import Path

__all__ = [
    "PICKLE_SUFFIXES",
    "SKOPS_SUFFIX",
    "UntrustedFileError",
    "default_trusted",
    "load_model",
    "load_student",
    "save_student",
]

SKOPS_SUFFIX = ".skops"
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
# Only classes from these packages are trusted without being named: they are what crembo's
# estimators, students and teachers are built from.
_TRUSTED_PACKAGES = ("crembo", "sklearn")


class UntrustedFileError(ValueError):
    """The file needs types (or a loader) that were not trusted."""


def _skops():
    try:
        import skops.io as sio
    except ImportError as exc:  # pragma: no cover - skops is a dependency
        raise ImportError("saving and loading students needs skops: pip install skops") from exc
    return sio


def _own_class(name):
    """True iff ``name`` ("pkg.module.Class") is a class defined in crembo or scikit-learn.

    Only names under those packages are imported; functions and other objects are not trusted
    (a student is made of classes), so a file cannot smuggle in a callable under a crembo name.
    """
    module, _, attr = name.rpartition(".")
    if not module or module.split(".")[0] not in _TRUSTED_PACKAGES:
        return False
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return False
    return isinstance(obj, type) and obj.__module__.split(".")[0] in _TRUSTED_PACKAGES


def default_trusted(untrusted):
    """The subset of skops' ``untrusted`` type names that are crembo's or scikit-learn's classes."""
    return [name for name in untrusted if _own_class(name)]


def _strip_teacher(model):
    """A shallow copy of a fitted CREMBO estimator without its teacher (not needed to predict;
    a 100-tree forest is most of the file). Other models are returned as they are."""
    if not hasattr(model, "teacher_"):
        return model
    slim = copy.copy(model)
    del slim.teacher_
    teacher = getattr(slim, "teacher", None)
    if teacher is not None and not isinstance(teacher, str):
        # The constructor's teacher may be a fitted model or a belief matrix: drop it too.
        slim.teacher = None
    return slim


def save_student(model, path, *, keep_teacher=False):
    """Write a fitted student (any estimator; typically a ``CREMBOClassifier``) to a skops file.

    Parameters
    ----------
    model : fitted estimator
    path : str or path-like
        Destination; ``.skops`` is the conventional suffix.
    keep_teacher : bool
        False (default): a ``CREMBOClassifier`` is saved without ``teacher_`` and with its
        ``teacher`` parameter set to None, so the file holds the student, its scan and MEMO's
        result but not the (large) teacher. ``predict`` is unaffected.

    Returns
    -------
    pathlib.Path
    """
    sio = _skops()
    path = Path(path)
    obj = model if keep_teacher else _strip_teacher(model)
    # Write beside the target and rename, so a failed dump never leaves a truncated file.
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        sio.dump(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _check_path(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    return path


def load_student(path, trusted=None):
    """Load a skops file written by ``save_student`` (or ``skops.io.dump``).

    Parameters
    ----------
    path : str or path-like
    trusted : None or sequence of str
        Extra type names to trust, as reported by ``skops.io.get_untrusted_types``. crembo's and
        scikit-learn's own classes are always trusted; anything else must be listed here.

    Raises
    ------
    UntrustedFileError
        The file contains types that are neither crembo's/sklearn's nor in ``trusted``.
    ValueError
        The file is not a readable skops file.
    """
    sio = _skops()
    path = _check_path(path)
    if trusted is not None and (isinstance(trusted, str) or not all(isinstance(t, str) for t in trusted)):
        raise TypeError("trusted must be a sequence of type names (str), e.g. from skops.io.get_untrusted_types")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ValueError(f"{path} is not a readable skops file ({type(exc).__name__}: {exc})") from exc
    allowed = set(default_trusted(untrusted)) | set(trusted or ())
    refused = sorted(set(untrusted) - allowed)
    if refused:
        raise UntrustedFileError(
            f"{path} contains types that are not trusted: {', '.join(refused)}; pass them in trusted= "
            "if you know where the file comes from"
        )
    try:
        return sio.load(path, trusted=sorted(allowed & set(untrusted)))
    except Exception as exc:  # skops raises many kinds on a damaged file; say which file
        raise ValueError(f"cannot load {path}: {type(exc).__name__}: {exc}") from exc


def load_model(path, *, trust_pickle=False, trusted=None):
    """Load a model file by suffix: ``.skops`` safely, pickle/joblib only with ``trust_pickle``.

    Unpickling runs arbitrary code stored in the file, so ``.pkl``, ``.pickle`` and ``.joblib``
    files are refused unless ``trust_pickle=True`` says their source is trusted. For a skops
    file, ``trust_pickle=True`` also trusts every type the file contains.
    """
    path = _check_path(path)
    suffix = path.suffix.lower()
    if suffix == SKOPS_SUFFIX:
        if trust_pickle:
            sio = _skops()
            try:
                return sio.load(path, trusted=sio.get_untrusted_types(file=path))
            except Exception as exc:
                raise ValueError(f"cannot load {path}: {type(exc).__name__}: {exc}") from exc
        return load_student(path, trusted=trusted)
    if suffix in PICKLE_SUFFIXES:
        if not trust_pickle:
            raise UntrustedFileError(
                f"refusing to load {path}: loading a {suffix} file unpickles it, which runs arbitrary code "
                "from the file; pass --trust (trust_pickle=True) only if you trust its source, or save the "
                "model with skops"
            )
        import joblib  # joblib.load reads plain pickles too

        try:
            return joblib.load(path)
        except Exception as exc:
            raise ValueError(f"cannot load {path}: {type(exc).__name__}: {exc}") from exc
    raise ValueError(
        f"unknown model file type {suffix or '(no suffix)'!r} for {path}; expected .skops, or "
        f"{', '.join(PICKLE_SUFFIXES)} with --trust"
    )
