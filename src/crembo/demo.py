"""A first compression, end to end: ``python -m crembo.demo [--dataset heart] [--seed 0]``.

Fits the paper's teacher (a random forest of 100 trees of depth 12) on a bundled UCI data set,
compresses it into a depth-4 tree with CREMBO (its default cross-validated selection, and the
paper's own loop), and prints the tree next to the accuracy of the teacher, of CREMBO's students
and of the trees a practitioner would fit (BM: on the true labels; VT: on the teacher's labels;
class-balanced and unweighted), with each model's fidelity to the teacher.
"""

import argparse
import textwrap
import time

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

import crembo
from crembo import datasets
from crembo._user_vt import kept_user_vt
from crembo.oracles import default_student


def _row(name, model_acc, fidelity, note=""):
    fid = "" if fidelity is None else f"{fidelity:8.3f}"
    return f"  {name:<34} {model_acc:8.3f} {fid:>8}  {note}"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m crembo.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="dermatology", choices=datasets.NAMES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--depth", type=int, default=4, help="depth of the student tree")
    args = parser.parse_args(argv)

    data = datasets.load(args.dataset)
    X_train, X_test, y_train, y_test = train_test_split(
        data.X, data.y, test_size=0.25, stratify=data.y, random_state=args.seed
    )
    print(f"crembo {crembo.__version__} | backend: {crembo.current_backend_name()} | OpenMP: {crembo.openmp_enabled()}")
    print(
        f"data set: {args.dataset}, {data.X.shape[0]} rows x {data.X.shape[1]} features, "
        f"{len(data.class_names)} classes; {len(y_train)} train / {len(y_test)} test rows\n"
    )

    teacher = RandomForestClassifier(
        n_estimators=100, max_depth=12, class_weight="balanced", random_state=args.seed, n_jobs=-1
    ).fit(X_train, y_train)
    student = default_student().set_params(max_depth=args.depth)
    start = time.perf_counter()
    model = crembo.CREMBOClassifier(teacher=teacher, student=student, random_state=args.seed).fit(X_train, y_train)
    seconds = time.perf_counter() - start
    paper_model = crembo.CREMBOClassifier(
        teacher=teacher, student=student, selection="paper", random_state=args.seed
    ).fit(X_train, y_train)
    y_teacher_train = teacher.predict(X_train)
    baselines = [
        (
            f"{name}: {what}, {weight or 'unweighted'}",
            DecisionTreeClassifier(max_depth=args.depth, class_weight=weight, random_state=args.seed).fit(
                X_train, labels
            ),
        )
        for name, what, labels in [("BM", "true labels", y_train), ("VT", "teacher labels", y_teacher_train)]
        for weight in ("balanced", None)
    ]

    y_teacher = teacher.predict(X_test)
    print(f"{'':2}{'model':<34} {'accuracy':>8} {'fidelity':>8}  (test set; fidelity = agreement with the teacher)")
    print(_row("teacher: forest, 100 trees", np.mean(y_teacher == y_test), None))
    for name, est in [
        (f"CREMBO: depth-{args.depth} tree", model),
        ('CREMBO: selection="paper"', paper_model),
        *baselines,
    ]:
        pred = est.predict(X_test)
        print(_row(name, np.mean(pred == y_test), np.mean(pred == y_teacher)))

    print(
        textwrap.fill(
            "One split of one data set (dermatology and seed 0 have been the demo's defaults since the "
            "first version, not picked for this result). Over the cross-validated grid of docs/results.md "
            "(7 data sets, 3 teachers, depths 2-4), CREMBO against the best of the four trees above wins "
            "38 configurations, ties 2 and loses 23; on dermatology with a forest at depth 4 it wins 27 "
            "folds, ties 3 and loses 0 (93.6% against 89.2%).",
            width=100,
        )
    )
    scan = model.scan_
    if kept_user_vt(model):  # SelectionSpec.user_vt kept the user's tree
        chose = (
            f"found no student that beats scikit-learn's tree on the teacher's labels by a standard error "
            f"(best {scan.student_scores.max():.3f} against its {model.validation_score_:.3f} held out), so kept "
            "that tree,"
        )
    else:
        chose = (
            f"chose threshold {model.threshold_:.3f} with {model.student_} (held-out accuracy "
            f"{model.validation_score_:.3f}, against {scan.user_vt_score:.3f} for scikit-learn's tree on the "
            "teacher's labels),"
        )
    print(
        f"\nCREMBO took {seconds:.2f} s: MEMO threshold {model.memo_threshold_:.3f}; 5-fold cross-validation "
        f"over {len(scan.thresholds)} thresholds x {len(scan.students)} student variants {chose} refit on all "
        f"{len(y_train)} training rows."
    )
    print(
        textwrap.fill(
            "How to read this: a row's allowed labels at threshold t are the classes the teacher gives a "
            "belief of at least t (its top class when none reaches t). MEMO's threshold is the largest at "
            f"which the depth-{args.depth} tree trained on them predicts an allowed label for every training "
            "row; 0 means only the trivial threshold works (at t = 0 every label is allowed): no small tree "
            "follows the teacher on every row, as is usual with a forest this confident on its own training "
            "rows. Above it the allowed sets shrink toward the teacher's labels (the last step is VT), and "
            "cross-validation picks the threshold and the student; scikit-learn's unweighted tree on the "
            "teacher's labels (VT-u) stays unless that student beats it held out by a standard error. "
            + (
                'The tree below is that scikit-learn tree: "(12 samples)" counts the training rows reaching a leaf'
                if kept_user_vt(model)
                else 'In the tree below, "allowed for 47/67" means 47 of the 67 training rows reaching that '
                "leaf allow its class at the chosen threshold"
            )
            + '; "(NaN)" marks the branch that rows with a missing value take.',
            width=100,
        )
    )
    print("\nThe student:")
    print(model.export_text(feature_names=list(data.feature_names), class_names=list(map(str, data.class_names))))


if __name__ == "__main__":
    main()
