"""CREMBOClassifier's cross-validated selection (crembo._selection) against a plain re-implementation,
the scan's VT endpoint, small-data behaviour and the selection= parameter."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import StratifiedKFold
from sklearn.tree import DecisionTreeClassifier

import crembo
from crembo._selection import PRESETS, SelectionSpec, allowed_sets, take_rows
from crembo._splits import split_rows, subsample_rows


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=240, n_features=6, n_informative=4, n_classes=4, n_clusters_per_class=1, flip_y=0.1, random_state=7
    )
    forest = RandomForestClassifier(n_estimators=15, max_depth=4, random_state=0).fit(X[:180], y[:180])
    belief = crembo.make_teacher(forest).belief(X[:180], np.arange(4))
    return X[:180], y[:180], X[180:], y[180:], belief


CONSENSUS_SEED = 1


def multi_output_predict(tree, X):
    """The paper's prediction of a multi-output tree: the output most likely to be 1."""
    scores = [
        p[:, list(cl).index(1)] if 1 in cl else np.zeros(len(X))
        for p, cl in zip(tree.predict_proba(X), tree.classes_, strict=False)
    ]
    return np.argmax(np.column_stack(scores), axis=1)


def reference_cv(
    X, y, belief, seed, weights, clip, tie, folds=5, depth=3, stability=0.0, prefer_vt=None, consensus=None
):
    """K-fold selection over (class weight, threshold) written out with sklearn only; ``stability``
    adds that weight times the fold students' mean pairwise agreement on every row to the score,
    ``prefer_vt`` keeps the best student at the last threshold unless another beats it by that
    many standard errors of the paired per-row hits, ``consensus`` keeps, of the students within
    that many binomial standard errors of the best accuracy, those whose out-of-fold predictions
    agree most with the other distinct ones'."""
    thr = np.unique(belief)
    top = belief >= belief.max(axis=1, keepdims=True)

    def allowed(rows, d):
        a = belief[rows] >= d
        if clip:
            empty = ~a.any(axis=1)
            a[empty] = top[rows][empty]
        return a.astype(int)

    def fit(rows, w, d):
        return DecisionTreeClassifier(max_depth=depth, class_weight=w, random_state=seed).fit(X[rows], allowed(rows, d))

    correct = np.zeros((len(weights), len(thr)))
    agree = np.zeros((len(weights), len(thr)))
    hits = np.zeros((len(weights), len(thr), len(y)))
    oof = np.zeros((len(weights), len(thr), len(y)), dtype=int)
    everywhere = []  # per fold: (C, S, n) predictions on every row
    for tr, va in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
        everywhere.append(np.zeros((len(weights), len(thr), len(y))))
        for c, w in enumerate(weights):
            for s, d in enumerate(thr):
                tree = fit(tr, w, d)
                pred = multi_output_predict(tree, X[va])
                correct[c, s] += np.sum(pred == y[va])
                agree[c, s] += np.sum(pred == belief[va].argmax(axis=1))
                hits[c, s, va] = pred == y[va]
                oof[c, s, va] = pred
                everywhere[-1][c, s] = multi_output_predict(tree, X)
    pairs = [(a == b).mean(axis=2) for i, a in enumerate(everywhere) for b in everywhere[i + 1 :]]
    score = correct / len(y) + stability * np.mean(pairs, axis=0)
    eligible = np.ones_like(score, dtype=bool)
    if consensus is not None:
        best = score.max()
        near = score >= best - consensus * np.sqrt(best * (1 - best) / len(y)) - 1e-12
        groups = {}  # distinct out-of-fold prediction vector -> the students predicting it
        for c, s in zip(*np.nonzero(near), strict=True):
            groups.setdefault(oof[c, s].tobytes(), []).append((c, s))
        vectors = list(groups.values())
        if len(vectors) > 1:
            central = [np.mean([np.mean(oof[g[0]] == oof[h[0]]) for h in vectors if h is not g]) for g in vectors]
            centre = [g for g, m in zip(vectors, central, strict=True) if m >= max(central) - 1e-9]
            centre_acc = max(score[g[0]] for g in centre)
            eligible[:] = False
            for g in centre:
                if score[g[0]] >= centre_acc - 1e-12:
                    for cs in g:
                        eligible[cs] = True
    if prefer_vt is not None:
        last = len(thr) - 1
        c_vt = min(range(len(weights)), key=lambda c: (-score[c, last], -agree[c, last], c))
        d = hits - hits[c_vt, last]
        mean, n = d.mean(axis=2), len(y)
        se = np.sqrt((np.abs(d).mean(axis=2) - mean**2) * n / (n - 1) / n)
        eligible = (se > 0) & (mean > 0) & (mean >= prefer_vt * se)
        if not eligible.any():
            return dict(
                accuracy=correct / len(y),
                chosen=(c_vt, last),
                threshold=thr[last],
                tree=fit(np.arange(len(y)), weights[c_vt], thr[last]),
            )
    best = score[eligible].max()
    ok = [
        (c, s)
        for c in range(len(weights))
        for s in range(len(thr))
        if eligible[c, s] and np.isclose(score[c, s], best, rtol=0, atol=1e-12)
    ]
    if tie == "high":
        c, s = min(ok, key=lambda cs: (-cs[1], cs[0]))
    elif tie == "low":
        c, s = min(ok, key=lambda cs: (cs[1], cs[0]))
    else:
        c, s = min(ok, key=lambda cs: (-agree[cs], -cs[1], cs[0]))
    tree = fit(np.arange(len(y)), weights[c], thr[s])
    return dict(accuracy=correct / len(y), chosen=(c, s), threshold=thr[s], tree=tree)


@pytest.mark.parametrize(
    "clip, tie, stability, prefer_vt, consensus, seed",
    [
        (True, "high", 0.0, None, None, 3),
        (False, "low", 0.0, None, None, 3),
        (True, "fidelity", 0.0, None, None, 3),
        (True, "high", 0.5, None, None, 3),  # agreement moves the choice from VT to a lower threshold
        (True, "low", 0.0, 0.5, None, 1),  # accuracy alone picks a low threshold; not enough evidence
        (True, "low", 0.0, 1e9, None, 0),  # no evidence is ever enough: VT
        (True, "high", 0.0, None, 1.0, CONSENSUS_SEED),  # the centre is not the most accurate
    ],
)
def test_equals_a_plain_cross_validated_scan(data, clip, tie, stability, prefer_vt, consensus, seed):
    X, y, X_test, _, belief = data
    weights = ("balanced", None)
    ref = reference_cv(
        X,
        y,
        belief,
        seed=seed,
        weights=weights,
        clip=clip,
        tie=tie,
        stability=stability,
        prefer_vt=prefer_vt,
        consensus=consensus,
    )
    if stability or prefer_vt is not None or consensus is not None:  # each case changes the choice
        plain = reference_cv(X, y, belief, seed=seed, weights=weights, clip=clip, tie=tie)
        assert plain["chosen"] != ref["chosen"]
    spec = SelectionSpec(
        folds=5,
        clip=clip,
        tie=tie,
        class_weights=weights,
        from_memo=False,
        stability=stability,
        prefer_vt=prefer_vt,
        consensus=consensus,
    )
    clf = crembo.CREMBOClassifier(
        teacher=belief, student=DecisionTreeClassifier(max_depth=3), selection=spec, random_state=seed
    ).fit(X, y)
    np.testing.assert_allclose(clf.scan_.student_scores, ref["accuracy"])
    assert (clf.scan_.students.index(clf.student_), clf.scan_.position) == ref["chosen"]
    assert clf.threshold_ == ref["threshold"]
    # refit on every row at the chosen threshold
    np.testing.assert_array_equal(clf.predict(X_test), multi_output_predict(ref["tree"], X_test))
    assert clf.validation_score_ == ref["accuracy"][ref["chosen"]]


def test_the_scan_ends_at_the_teachers_labels(data):
    X, y, X_test, _, belief = data
    # above a row's top belief a clipped allowed set is the row's top label: at the largest
    # belief value every row keeps exactly its top label(s)
    top = belief >= belief.max(axis=1, keepdims=True)
    np.testing.assert_array_equal(allowed_sets(belief, belief.max(), clip=True), top)
    assert not allowed_sets(belief, belief.max(), clip=False).any(axis=1).all()
    # so the student at the last threshold is the tree on the teacher's labels (VT); rows
    # whose top belief is tied are left out (their allowed set holds both labels)
    keep = top.sum(axis=1) == 1
    X, y, belief = X[keep], y[keep], belief[keep]
    student = crembo.AllowedLabelTreeClassifier(max_depth=3, criterion="gini")
    clf = crembo.CREMBOClassifier(
        teacher=belief,
        student=student,
        thresholds=[belief.max()],
        selection=SelectionSpec(class_weights=None),
        random_state=0,
    ).fit(X, y)
    vt = crembo.AllowedLabelTreeClassifier(max_depth=3, criterion="gini").fit(X, belief.argmax(axis=1))
    np.testing.assert_array_equal(clf.predict(X_test), vt.predict(X_test))


def test_default_selection_scans_from_memo_and_refits_on_every_row(data):
    X, y, _, _, belief = data
    clf = crembo.CREMBOClassifier(teacher=belief, random_state=0).fit(X, y)
    assert clf.selection == "cv" and PRESETS["cv"] == SelectionSpec()
    assert clf.scan_.indices[0] == clf.memo_.index
    assert clf.estimator_.n_samples_fit_ == len(y)
    assert clf.scan_.students == ("class_weight='balanced'", "class_weight=None", "criterion='consistency'")
    assert clf.scan_.student_scores.shape == (3, len(clf.scan_.indices))
    assert clf.depth_ == belief[np.arange(len(y)), clf.estimator_.predict(X)].min()


def test_subsample_and_single_split_for_many_rows(data):
    X, y, _, _, belief = data
    spec = SelectionSpec(max_rows=100, holdout_above=50, user_vt=None)
    clf = crembo.CREMBOClassifier(teacher=belief, selection=spec, random_state=0, verbose=0).fit(X, y)
    assert clf.estimator_.n_samples_fit_ == len(y)  # refit on all rows
    rows = subsample_rows(y, 100, 0)
    assert len(rows) == 100 and set(np.unique(y[rows])) == set(np.unique(y))
    assert len(np.unique(rows)) == 100


def test_split_rows_keep_single_rows_in_training():
    y = np.array([0] * 10 + [1] * 10 + [2])
    for folds in (1, 5):
        splits = split_rows(y, folds, 1, 0.2, 0)
        assert len(splits) == (1 if folds == 1 else 5)
        for tr, va in splits:
            assert 20 in tr and 20 not in va and not set(tr) & set(va)
        assert sorted(np.concatenate([va for _, va in splits]).tolist()) == (
            list(range(20)) if folds == 5 else sorted(splits[0][1].tolist())
        )


@pytest.mark.parametrize("selection", ["cv", "paper"])
def test_a_class_with_one_sample_is_learned_with_a_warning(selection):
    X, y = make_classification(
        n_samples=120, n_features=5, n_informative=3, n_classes=3, n_clusters_per_class=1, random_state=0
    )
    y = np.array(["a", "b", "c"], dtype=object)[y]
    X = np.vstack([X, [[8.0, 8.0, 8.0, 8.0, 8.0]]])
    y = np.append(y, "rare")
    forest = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0)
    with pytest.warns(UserWarning, match=r"\['rare'\] have a single sample"):
        clf = crembo.CREMBOClassifier(teacher=forest, selection=selection, random_state=0).fit(X, y)
    assert list(clf.classes_) == ["a", "b", "c", "rare"]
    assert clf.score(X[:-1], y[:-1]) > 0.6
    # the row is in the student's training rows
    with pytest.warns(UserWarning, match="single sample"):
        tr, _ = crembo.estimator.stratified_split(np.unique(y, return_inverse=True)[1], clf.classes_, 0.15, 0)
    assert len(y) - 1 in tr
    est = clf.estimator_  # the native student, or with "cv" possibly the user's VT (scikit-learn's tree)
    n_fit = est.tree_.n_node_samples[0] if isinstance(est, DecisionTreeClassifier) else est.n_samples_fit_
    assert n_fit == (len(y) if selection == "cv" else tr.size)


def test_paper_selection_split_unchanged_without_single_classes():
    from sklearn.model_selection import train_test_split

    y = np.repeat([0, 1, 2], [30, 20, 10])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tr, va = crembo.estimator.stratified_split(y, np.arange(3), 0.15, 4)
    ref_tr, ref_va = train_test_split(np.arange(60), test_size=0.15, stratify=y, random_state=4)
    np.testing.assert_array_equal(tr, ref_tr)
    np.testing.assert_array_equal(va, ref_va)


def test_tiny_data_and_bad_selection():
    X = np.arange(16, dtype=float).reshape(8, 2)
    y = np.repeat([0, 1, 2, 3], 2)
    forest = RandomForestClassifier(n_estimators=5, random_state=0)
    clf = crembo.CREMBOClassifier(teacher=forest, random_state=0).fit(X, y)  # 2 folds of 4 rows
    assert clf.scan_.student_scores.shape[0] == 3  # candidates: two weightings, the consistency tree
    with pytest.raises(ValueError, match="cannot split 8 samples of 4 classes"):
        crembo.CREMBOClassifier(teacher=forest, selection="paper").fit(X, y)
    for bad in ("best", None, 3):
        with pytest.raises(ValueError, match="selection must be one of"):
            crembo.CREMBOClassifier(teacher=forest, selection=bad).fit(X, y)
    with pytest.raises(ValueError, match="tie must be one of"):
        SelectionSpec(tie="middle")
    with pytest.raises(ValueError, match="prefer_vt needs clip"):
        SelectionSpec(clip=False, prefer_vt=1.0)
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="consensus must be None or >= 0"):
            SelectionSpec(consensus=bad)
    # consensus ranks by accuracy and agreement alone: the other rules would be ignored beside it
    for other in (dict(stability=0.5), dict(one_se=True), dict(prefer_vt=1.0)):
        with pytest.raises(ValueError, match=f"consensus cannot be combined with {next(iter(other))}"):
            SelectionSpec(consensus=1.0, **other)
    SelectionSpec(stability=0.5, one_se=True, prefer_vt=1.0)  # these three do combine


def test_label_balanced_weights_generalise_sklearns_balanced():
    from sklearn.utils.class_weight import compute_sample_weight

    from crembo._selection import label_balanced_weights

    y = np.array([0, 0, 0, 1, 2, 2])
    np.testing.assert_allclose(label_balanced_weights(np.eye(3, dtype=bool)[y]), compute_sample_weight("balanced", y))
    # label c weighs n / (k m_c) with m_c the rows allowing it; a row the mean over its labels
    a = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0], [0, 1, 0]], dtype=bool)  # label 2 allowed nowhere
    w_label = 4 / (2 * np.array([2, 2]))
    np.testing.assert_allclose(label_balanced_weights(a), [w_label.mean(), w_label[0], 1.0, w_label[1]])


def test_label_balanced_students():
    from crembo._selection import student_candidates, take_rows

    X, y = make_classification(
        n_samples=150,
        n_features=5,
        n_informative=3,
        n_classes=3,
        weights=[0.6, 0.3, 0.1],
        n_clusters_per_class=1,
        random_state=2,
    )
    onehot = np.eye(3, dtype=bool)[y]
    names = [n for n, _ in student_candidates(DecisionTreeClassifier(max_depth=3), ("labels", None), 0)]
    assert names == ["class_weight='labels'", "class_weight=None"]
    # with one allowed label per row, "labels" is scikit-learn's class_weight="balanced"
    ref = DecisionTreeClassifier(max_depth=3, class_weight="balanced", random_state=0).fit(X, y)
    sk = student_candidates(DecisionTreeClassifier(max_depth=3), ("labels",), 0)[0][1]
    np.testing.assert_array_equal(sk.fit(X, onehot, 0).predict(X), ref.predict(X))
    native = student_candidates(None, ("labels",), 0)[0][1]
    tree = native.fit(take_rows(native, native.prepare(X), X, np.arange(150)), onehot, 0)
    assert np.mean(tree.predict(X) == ref.predict(X)) > 0.95  # same criterion; equal-gain ties may differ
    # the native tree takes sample weights with the gini criterion only
    student = crembo.AllowedLabelTreeClassifier(criterion="gini")
    prepared = student.prepare_allowed(X)
    with pytest.raises(ValueError, match="sample_weight must be 150 finite"):
        student.fit_prepared(prepared, onehot, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="sample_weight needs criterion='gini'"):
        crembo.AllowedLabelTreeClassifier().fit_prepared(prepared, onehot, sample_weight=np.ones(150))
    # a student that cannot take the weighting is used as given
    assert [n for n, _ in student_candidates(crembo.AllowedLabelTreeClassifier(), ("labels", None), 0)] == ["student"]


def test_consistency_candidate_is_the_native_tree_with_that_criterion(data):
    X, y, _, _, belief = data
    spec = SelectionSpec(consistency=True, from_memo=False)
    clf = crembo.CREMBOClassifier(teacher=belief, selection=spec, random_state=0).fit(X, y)
    assert clf.scan_.students[-1] == "criterion='consistency'"
    # its row of held-out scores: the consistency tree cross-validated by hand (on the bins of
    # every row, as the selection bins X once)
    splits = split_rows(y, 5, 1, 0.15, 0)
    top = belief >= belief.max(axis=1, keepdims=True)
    tree = crembo.AllowedLabelTreeClassifier(max_depth=4, criterion="consistency")
    binned = tree.prepare_allowed(X)
    for d in clf.scan_.thresholds[:: max(1, len(clf.scan_.thresholds) // 5)]:
        hits = 0
        for tr, va in splits:
            tree.fit_prepared(take_rows(None, binned, X, tr), allowed_sets(belief[tr], d, True, top[tr]))
            hits += int((tree.predict_prepared(take_rows(None, binned, X, va)) == y[va]).sum())
        pos = int(np.flatnonzero(clf.scan_.thresholds == d)[0])
        assert clf.scan_.student_scores[-1, pos] == hits / len(y)
    # a student that is not the native tree gets no such candidate
    other = crembo.CREMBOClassifier(
        teacher=belief, student=DecisionTreeClassifier(max_depth=3), selection=spec, random_state=0
    ).fit(X, y)
    assert "criterion='consistency'" not in other.scan_.students


def plain_user_vt(X, y, belief, z, seed=0, depth=4):
    """The user-VT rule written out: scikit-learn's unweighted tree on the teacher's labels,
    scored on the selection's 5 folds, kept unless the chosen student is better held out by more
    than z binomial standard errors. Returns (kept tree or None, CREMBO without the rule, VT's
    held-out accuracy)."""
    labels = belief.argmax(axis=1)
    splits = split_rows(y, 5, 1, 0.15, seed)
    held = np.concatenate([va for _, va in splits])
    tree = DecisionTreeClassifier(max_depth=depth, random_state=seed)
    pred = np.concatenate([clone(tree).fit(X[tr], labels[tr]).predict(X[va]) for tr, va in splits])
    vt_score = np.mean(pred == y[held])
    crembo_only = crembo.CREMBOClassifier(teacher=belief, random_state=seed, selection=SelectionSpec(user_vt=None))
    best = crembo_only.fit(X, y).validation_score_
    keep = best - vt_score <= z * np.sqrt(best * (1 - best) / len(held)) + 1e-12
    return (tree.fit(X, labels) if keep else None), crembo_only, vt_score


def noisy_teacher(n=300, seed=0):
    """A belief whose labels are wrong on half the rows (0.55 on a wrong label, 0.45 on the true
    one): VT learns the wrong labels, CREMBO's allowed sets at 0.45 keep the true ones."""
    X, y = make_classification(
        n_samples=n,
        n_features=5,
        n_informative=3,
        n_redundant=0,
        n_classes=3,
        n_clusters_per_class=1,
        class_sep=2.0,
        random_state=seed,
    )
    rng = np.random.RandomState(seed)
    belief = np.zeros((n, 3))
    belief[np.arange(n), y] = 1.0
    noisy = rng.rand(n) < 0.5
    wrong = (y + rng.randint(1, 3, n)) % 3
    belief[noisy] = 0.0
    belief[noisy, y[noisy]] = 0.45
    belief[noisy, wrong[noisy]] = 0.55
    return X, y, belief


@pytest.mark.parametrize("z", [1.0, 1e9])
def test_the_users_vt_stays_unless_beaten_held_out(data, z):
    X, y, X_test, _, belief = data
    kept, crembo_only, vt_score = plain_user_vt(X, y, belief, z)
    clf = crembo.CREMBOClassifier(teacher=belief, random_state=0, selection=SelectionSpec(user_vt=z)).fit(X, y)
    assert clf.scan_.user_vt_score == pytest.approx(vt_score)
    if kept is None:
        np.testing.assert_array_equal(clf.predict(X_test), crembo_only.predict(X_test))
        assert clf.student_ == crembo_only.student_
    else:
        assert isinstance(clf.estimator_, DecisionTreeClassifier)
        np.testing.assert_array_equal(clf.predict(X_test), kept.predict(X_test))
        assert clf.student_ == f"scikit-learn VT, class_weight={kept.class_weight!r}"
        assert clf.validation_score_ == pytest.approx(vt_score)
        assert clf.threshold_ == clf.scan_.thresholds[np.isfinite(clf.scan_.thresholds)].max()
    if z == 1e9:  # no evidence is enough
        assert kept is not None


def test_a_student_that_beats_the_users_vt_is_kept():
    X, y, belief = noisy_teacher()
    kept, crembo_only, vt_score = plain_user_vt(X, y, belief, 1.0)
    assert kept is None and crembo_only.validation_score_ > vt_score + 0.2  # the case this test is for
    clf = crembo.CREMBOClassifier(teacher=belief, random_state=0, selection=SelectionSpec(user_vt=1.0)).fit(X, y)
    assert isinstance(clf.estimator_, crembo.AllowedLabelTreeClassifier)
    np.testing.assert_array_equal(clf.predict(X), crembo_only.predict(X))


def test_the_kept_vt_prints_exports_saves_and_predicts_like_any_student(data, tmp_path):
    X, y, X_test, _, belief = data
    names = np.array(["ant", "bee", "cat", "dog"])
    clf = crembo.CREMBOClassifier(teacher=belief, random_state=0, selection=SelectionSpec(user_vt=1e9))
    clf.fit(X, names[y])
    assert isinstance(clf.estimator_, DecisionTreeClassifier)
    text = clf.export_text(feature_names=list("abcdef"))
    assert "samples)" in text and any(f"class: {c} (" in text for c in names)
    proba = clf.predict_proba(X_test)
    assert proba.shape == (len(X_test), 4)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X_test))
    model = crembo.export.to_json(clf)
    np.testing.assert_array_equal(crembo.export.predict_json(model, X_test), clf.predict(X_test))
    from crembo.persistence import load_student, save_student

    save_student(clf, tmp_path / "vt.skops")  # loads without trusting anything
    np.testing.assert_array_equal(load_student(tmp_path / "vt.skops").predict(X_test), clf.predict(X_test))


def test_the_users_vt_needs_the_native_student_and_takes_nan(data):
    X, y, X_test, _, belief = data
    always = SelectionSpec(user_vt=1e9)
    student = DecisionTreeClassifier(max_depth=3, random_state=0)  # the scan already ends at the user's tree
    clf = crembo.CREMBOClassifier(teacher=belief, student=student, random_state=0, selection=always).fit(X, y)
    assert clf.scan_.user_vt_score is None and not clf.student_.startswith("scikit-learn VT")
    X_nan = X.copy()
    X_nan[::7, 0] = np.nan
    clf = crembo.CREMBOClassifier(teacher=belief, random_state=0, selection=always).fit(X_nan, y)
    vt = DecisionTreeClassifier(max_depth=4, random_state=0, class_weight=clf.estimator_.class_weight)
    X_test = np.where(np.arange(len(X_test))[:, None] % 3 == 0, np.nan, X_test)
    np.testing.assert_array_equal(clf.predict(X_test), vt.fit(X_nan, belief.argmax(axis=1)).predict(X_test))
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="user_vt must be None or >= 0"):
            SelectionSpec(user_vt=bad)


def test_the_users_vt_on_a_subsample_is_refit_on_every_row(data):
    X, y, _, _, belief = data
    spec = SelectionSpec(max_rows=100, holdout_above=50, user_vt=1e9)  # one split of 100 rows; VT stays
    clf = crembo.CREMBOClassifier(teacher=belief, selection=spec, random_state=0).fit(X, y)
    assert isinstance(clf.estimator_, DecisionTreeClassifier)
    assert clf.estimator_.tree_.n_node_samples[0] == len(y)
    rows = subsample_rows(y, 100, 0)
    (tr, va) = split_rows(y[rows], 1, 1, 0.15, 0)[0]
    tr, va = rows[tr], rows[va]
    labels = belief.argmax(axis=1)
    vt = DecisionTreeClassifier(max_depth=4, random_state=0).fit(X[tr], labels[tr])
    assert clf.scan_.user_vt_score == pytest.approx(np.mean(vt.predict(X[va]) == y[va]))


def test_the_users_vt_is_unweighted_unless_the_selection_tries_balanced_students_only(data):
    X, y, X_test, _, belief = data
    cases = (((None, "balanced"), None), (("balanced",), "balanced"), ((None,), None), (("labels",), "balanced"))
    for weights, expected in cases:
        spec = SelectionSpec(class_weights=weights, user_vt=1e9)
        clf = crembo.CREMBOClassifier(teacher=belief, selection=spec, random_state=0).fit(X, y)
        assert clf.student_ == f"scikit-learn VT, class_weight={expected!r}"
        vt = DecisionTreeClassifier(max_depth=4, class_weight=expected, random_state=0)
        np.testing.assert_array_equal(clf.predict(X_test), vt.fit(X, belief.argmax(axis=1)).predict(X_test))


def test_a_kept_vt_points_the_scan_at_its_clipped_end(data):
    X, y, _, _, belief = data
    # clip="end" scores the largest threshold twice, unclipped then clipped (VT): the kept tree is the latter
    clf = crembo.CREMBOClassifier(teacher=belief, random_state=0, selection=SelectionSpec(clip="end", user_vt=1e9))
    scan = clf.fit(X, y).scan_
    assert scan.position == len(scan.thresholds) - 1 and scan.clipped[scan.position]
    assert scan.thresholds[-2] == scan.thresholds[-1] and not scan.clipped[-2]


def test_the_users_vt_rule_counts_each_held_out_row_once(data, monkeypatch):
    X, y, _, _, belief = data
    seen = []

    def spy(chosen, vt, n_held, z):
        seen.append(n_held)
        return False

    monkeypatch.setattr(crembo._selection, "keeps_user_vt", spy)
    crembo.CREMBOClassifier(teacher=belief, random_state=0, selection=SelectionSpec(repeats=3)).fit(X, y)
    assert seen == [len(y)]  # three repeats hold each row out three times: still len(y) rows of evidence


def test_no_users_vt_for_a_depth_0_student(data):
    X, y, _, _, belief = data
    student = crembo.AllowedLabelTreeClassifier(max_depth=0)  # scikit-learn's tree needs depth >= 1
    clf = crembo.CREMBOClassifier(teacher=belief, student=student, random_state=0).fit(X, y)
    assert clf.scan_.user_vt_score is None and isinstance(clf.estimator_, crembo.AllowedLabelTreeClassifier)


def test_a_kept_vt_exports_every_class_when_the_teacher_never_names_one():
    X, y = make_classification(
        n_samples=300, n_features=6, n_informative=4, n_classes=3, n_clusters_per_class=1, random_state=0
    )
    names = np.array(["a", "b", "c"])
    belief = np.eye(3)[np.where(y == 1, 0, y)] * 0.9 + 1 / 30  # the teacher never names "b"
    spec = SelectionSpec(user_vt=1e9)
    clf = crembo.CREMBOClassifier(teacher=belief, random_state=0, selection=spec).fit(X, names[y])
    assert list(clf.estimator_.classes_) == [0, 2]
    model = crembo.export.to_json(clf, class_names=["A", "B", "C"])
    assert model["classes"] == ["a", "b", "c"] and model["class_names"] == ["A", "B", "C"]
    np.testing.assert_array_equal(crembo.export.predict_json(model, X), clf.predict(X))
    leaves = [node for node in model["nodes"] if node["leaf"]]
    assert all(len(node["value"]) == 3 and node["value"][1] == 0.0 for node in leaves)
    assert "class = A" in crembo.export.export_dot(clf, class_names=["A", "B", "C"])
