"""Saving and loading students safely: skops files by default, pickle/joblib only when trusted.

A skops file is a zip of JSON and arrays; loading it builds only the types it is told to trust,
so a file cannot run code the way an unpickled file can. What is trusted (docs/security.md):
skops' own verdict (``skops.io.get_untrusted_types`` lists every type it would refuse), minus
the short allow-list ``trusted_types()`` of the exact types a crembo student, baseline or teacher
wrapper is made of, minus the names the caller passes in ``trusted``. Nothing in a file can add
to that. Every decision tree in a loaded object is then checked (``crembo.tree._validate``):
indices in range, children after parents, features within the model's columns.

``load_model`` is the teacher loader of the command line: ``.skops`` files as above, and
``.pkl``/``.pickle``/``.joblib`` files only with ``trust_pickle=True``, because unpickling runs
arbitrary code from the file.
"""

import copy
import functools
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
    "trusted_types",
]

SKOPS_SUFFIX = ".skops"
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
SKLEARN_TREE = "sklearn.tree._tree.Tree"


class UntrustedFileError(ValueError):
    """The file needs types (or a loader) that were not trusted."""


def _skops():
    try:
        import skops.io as sio
    except ImportError as exc:  # pragma: no cover - skops is a dependency
        raise ImportError("saving and loading students needs skops: pip install skops") from exc
    return sio


def _type_name(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


@functools.cache
def _allow_list():
    # The names come from the classes, so a module rename follows. Each entry was reviewed: skops
    # builds it with __new__ and then its __setstate__ or __dict__ (no __init__), and what it then
    # does with that state is stated beside it.
    from sklearn.tree._tree import Tree as SklearnTree

    from crembo._memo import MemoResult, OracleCall
    from crembo._selection import SelectionSpec
    from crembo.estimator import CREMBOClassifier, ScanResult, TeacherLabelBaseline, TrueLabelBaseline
    from crembo.oracles import MultiOutputStudent
    from crembo.teachers import BeliefTeacher, ProbaTeacher, VoteTeacher
    from crembo.tree.estimator import AllowedLabelTreeClassifier
    from crembo.tree.grower import Tree

    estimator = (
        "a scikit-learn estimator (BaseEstimator.__setstate__ only checks the version); "
        "predict validates X, delegates to its fitted student and indexes classes_ with NumPy "
        "(bounds-checked)"
    )
    reasons = {
        CREMBOClassifier: estimator,
        TrueLabelBaseline: estimator,
        TeacherLabelBaseline: estimator,
        ScanResult: "a plain dataclass of arrays and numbers (the threshold scan's record)",
        MemoResult: "a plain dataclass (MEMO's threshold, index and student)",
        SelectionSpec: "a frozen dataclass of numbers, strings and tuples (a selection= parameter)",
        OracleCall: "a plain dataclass (one oracle call's threshold and outcome)",
        MultiOutputStudent: "holds an estimator and calls its public predict/predict_proba, which validate their input",
        AllowedLabelTreeClassifier: "crembo's native tree student; its __setstate__ checks that its "
        "tree's features and labels fit the model",
        Tree: "the native tree's node arrays; its __setstate__ checks them (indices in range, "
        "children after parents, dtypes and shapes) before the Cython walk can see them",
        SklearnTree: "scikit-learn's node storage, which skops refuses because a crafted one can crash "
        "predict; crembo checks every loaded one against its estimator and refuses it "
        "outside a decision tree, forest or bagging ensemble",
        VoteTeacher: "a teacher wrapper (save_student(keep_teacher=True)): votes of its ensemble's "
        "members, read through their predict or crembo's forest walk of checked trees",
        ProbaTeacher: "a teacher wrapper: the predict_proba of its model",
        BeliefTeacher: "a teacher wrapper: a stored belief matrix, read by row slicing",
    }
    return {_type_name(cls): why for cls, why in reasons.items()}


def trusted_types():
    """{type name: why it is safe} for the types crembo trusts beyond skops' own verdict."""
    return dict(_allow_list())


def default_trusted(untrusted):
    """The names in ``untrusted`` (skops' verdict on a file) that crembo trusts without being told."""
    allowed = _allow_list()
    return [name for name in untrusted if name in allowed]


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


def _check_trusted_arg(trusted):
    if trusted is None:
        return ()
    if isinstance(trusted, str) or not all(isinstance(t, str) for t in trusted):
        raise TypeError("trusted must be a sequence of type names (str), e.g. from skops.io.get_untrusted_types")
    return tuple(trusted)


def _check_trees(model, path, trust_sklearn_trees):
    """Every tree in a loaded model checked; scikit-learn trees crembo cannot vouch for refused."""
    from crembo.tree._validate import check_loaded_trees

    try:
        unvouched = check_loaded_trees(model, trust_sklearn_trees)
    except ValueError as exc:
        raise ValueError(f"{path} holds an invalid decision tree: {exc}") from None
    if unvouched:
        shown = ", ".join(unvouched[:3]) + (f" and {len(unvouched) - 3} more" if len(unvouched) > 3 else "")
        raise UntrustedFileError(
            f"{path} holds scikit-learn trees where crembo cannot check how they are used ({shown}); "
            f"pass trusted=['{SKLEARN_TREE}'] if you know where the file comes from"
        )
    return model


def _load_skops(path, trusted=(), trust_all=False):
    sio = _skops()
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ValueError(f"{path} is not a readable skops file ({type(exc).__name__}: {exc})") from exc
    if not trust_all:
        refused = sorted(set(untrusted) - set(_allow_list()) - set(trusted))
        if refused:
            raise UntrustedFileError(
                f"{path} contains types that are not trusted: {', '.join(refused)}; pass them in trusted= "
                "if you know where the file comes from"
            )
    try:
        model = sio.load(path, trusted=untrusted)
    except Exception as exc:  # skops raises many kinds on a damaged file; say which file
        raise ValueError(f"cannot load {path}: {type(exc).__name__}: {exc}") from exc
    return _check_trees(model, path, trust_all or SKLEARN_TREE in trusted)


def load_student(path, trusted=None):
    """Load a skops file written by ``save_student`` (or ``skops.io.dump``).

    Parameters
    ----------
    path : str or path-like
    trusted : None or sequence of str
        Extra type names to trust, as reported by ``skops.io.get_untrusted_types``. Types skops
        trusts and crembo's allow-list (``trusted_types()``) need not be listed; anything else
        must be. Listing ``"sklearn.tree._tree.Tree"`` also accepts scikit-learn trees outside
        the estimators crembo checks them against (they are still checked on their own).

    Raises
    ------
    UntrustedFileError
        The file contains types that are neither trusted by skops, nor in crembo's allow-list,
        nor in ``trusted``; nothing in it has been built.
    ValueError
        The file is not a readable skops file, or holds an invalid decision tree.
    """
    trusted = _check_trusted_arg(trusted)
    return _load_skops(_check_path(path), trusted)


def load_model(path, *, trust_pickle=False, trusted=None):
    """Load a model file by suffix: ``.skops`` safely, pickle/joblib only with ``trust_pickle``.

    Unpickling runs arbitrary code stored in the file, so ``.pkl``, ``.pickle`` and ``.joblib``
    files are refused unless ``trust_pickle=True`` says their source is trusted. For a skops
    file, ``trust_pickle=True`` also trusts every type the file contains. Decision trees are
    checked in every case.
    """
    path = _check_path(path)
    trusted = _check_trusted_arg(trusted)
    suffix = path.suffix.lower()
    if suffix == SKOPS_SUFFIX:
        return _load_skops(path, trusted, trust_all=trust_pickle)
    if suffix in PICKLE_SUFFIXES:
        if not trust_pickle:
            raise UntrustedFileError(
                f"refusing to load {path}: loading a {suffix} file unpickles it, which runs arbitrary code "
                "from the file; pass --trust (trust_pickle=True) only if you trust its source, or save the "
                "model with skops"
            )
        import joblib  # joblib.load reads plain pickles too

        try:
            model = joblib.load(path)
        except Exception as exc:
            raise ValueError(f"cannot load {path}: {type(exc).__name__}: {exc}") from exc
        return _check_trees(model, path, trust_sklearn_trees=True)
    raise ValueError(
        f"unknown model file type {suffix or '(no suffix)'!r} for {path}; expected .skops, or "
        f"{', '.join(PICKLE_SUFFIXES)} with --trust"
    )
