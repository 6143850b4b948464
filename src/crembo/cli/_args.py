"""Argument types and the ``crembo`` argument parser."""

import argparse
import math

from crembo.cli._errors import CLIError

TEACHERS = ("random-forest", "gradient-boosting", "mlp")
ORACLES = ("native", "sklearn")
_TRUST_HELP = (
    "allow loading a pickle/joblib teacher (or untrusted types in a skops file). Unpickling runs "
    "arbitrary code stored in the file: use it only for files you made or whose source you trust"
)
_TRUSTED_HELP = (
    "also trust this type in a skops file (repeatable), as named in the refusal; the types a crembo "
    "student is made of need no --trusted"
)


def _int_at_least(low):
    def parse(s):
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {v}")
        return v

    return parse


def _fraction(low_open=True, high_open=True, low=0.0, high=1.0):
    def parse(s):
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
        ok_low = v > low if low_open else v >= low
        ok_high = v < high if high_open else v <= high
        if not (ok_low and ok_high and math.isfinite(v)):
            lb, hb = "(" if low_open else "[", ")" if high_open else "]"
            raise argparse.ArgumentTypeError(f"must be in {lb}{low:g}, {high:g}{hb}, got {s}")
        return v

    return parse


def _n_jobs(s):
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None
    if v == 0:
        raise argparse.ArgumentTypeError("must not be 0 (use -1 for all cores)")
    return v


class _RaisingParser(argparse.ArgumentParser):
    """A parser whose errors raise CLIError instead of exiting (batch jobs are parsed with it)."""

    def error(self, message):
        raise CLIError(message)


# ----------------------------------------------------------------------------- the parser


def _add_compress_options(p, job=False):
    """The options of ``compress``. A batch job (``job=True``) gets neither --trust nor
    --overwrite: those come from the ``crembo batch`` command line, never from a jobs file."""
    data = p.add_argument_group("data")
    data.add_argument(
        "--data",
        required=True,
        metavar="FILE",
        help="training data: .csv (with a header row), .parquet (needs pandas and pyarrow) "
        "or .npy (a 2-D float array of features)",
    )
    data.add_argument("--target", metavar="COLUMN", help="the label column of a CSV or Parquet table")
    data.add_argument("--labels", metavar="FILE", help="labels of a .npy data file: a 1-D .npy array")
    data.add_argument(
        "--test-fraction",
        type=_fraction(),
        default=0.2,
        metavar="F",
        help="stratified held-out test split for the report (default: %(default)s)",
    )

    teacher = p.add_argument_group("teacher (exactly one of --teacher, --fit)")
    which = teacher.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--teacher",
        metavar="MODEL",
        help="a fitted classifier: .skops (loaded safely), or .pkl/.pickle/.joblib with --trust",
    )
    which.add_argument(
        "--fit",
        choices=TEACHERS,
        help="train a teacher on the training split: random-forest (depth 12, balanced, as in "
        "the paper), gradient-boosting (histogram boosting) or mlp (scaled inputs, one "
        "hidden layer of 64)",
    )
    if not job:
        teacher.add_argument("--trust", action="store_true", help=_TRUST_HELP)
        teacher.add_argument("--trusted", action="append", default=[], metavar="TYPE", help=_TRUSTED_HELP)
    teacher.add_argument(
        "--n-estimators",
        type=_int_at_least(1),
        default=100,
        metavar="N",
        help="trees (random-forest) or boosting iterations (gradient-boosting) of --fit (default: %(default)s)",
    )

    student = p.add_argument_group("student")
    student.add_argument(
        "--depth",
        type=_int_at_least(1),
        default=4,
        metavar="D",
        help="maximum depth of the student tree (default: %(default)s)",
    )
    student.add_argument(
        "--oracle",
        choices=ORACLES,
        default="native",
        help="the consistency oracle: native (crembo's AllowedLabelTreeClassifier with the "
        "paper's multi-output Gini and balanced weights, the Python default) or sklearn "
        "(the paper's multi-output balanced DecisionTreeClassifier; slower on large data) "
        "(default: %(default)s)",
    )

    algo = p.add_argument_group("CREMBO")
    algo.add_argument(
        "--delta",
        type=_int_at_least(1),
        default=1,
        metavar="K",
        help="step of the threshold scan above MEMO's (default: %(default)s)",
    )
    algo.add_argument(
        "--selection",
        choices=("cv", "paper"),
        default="cv",
        help="how the student is chosen: cv (5-fold cross-validation on the training rows over the "
        "thresholds and class weightings, then a refit on all of them; with the native student, "
        "scikit-learn's unweighted tree on the teacher's labels stays unless beaten by a standard "
        "error) or paper (one "
        "--validation-fraction split, the first best threshold) (default: %(default)s)",
    )
    algo.add_argument(
        "--validation-fraction",
        type=_fraction(),
        default=0.15,
        metavar="F",
        help="with --selection paper: the stratified validation split that scores the scan (default: %(default)s)",
    )
    algo.add_argument(
        "--eps",
        type=_fraction(low_open=False),
        default=0.0,
        metavar="E",
        help="quantile depth for consistency, 0 = strict as in the paper (default: %(default)s)",
    )
    algo.add_argument("--seed", type=int, default=0, help="one seed for every split and fit (default: %(default)s)")
    algo.add_argument(
        "--n-jobs",
        type=_n_jobs,
        default=None,
        metavar="N",
        help="parallel scan and kernel threads (default: all cores)",
    )

    out = p.add_argument_group("output")
    out.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="directory to create with student.skops, report.json, student.txt and scan.png",
    )
    if not job:
        out.add_argument(
            "--overwrite",
            action="store_true",
            help="replace DIR if it holds an earlier crembo result (and nothing else)",
        )
        out.add_argument("-v", "--verbose", action="store_true", help="progress bars and stage messages on stderr")


def job_parser():
    """The parser of one batch job's options (no abbreviations: a key must name its option)."""
    p = _RaisingParser(prog="crembo batch job", allow_abbrev=False, add_help=False)
    _add_compress_options(p, job=True)
    return p


def build_parser(parser_class=argparse.ArgumentParser):
    parser = parser_class(
        prog="crembo",
        description="Compress a large classifier into a small robust one with CREMBO/MEMO "
        "(Armstrong & Gilad-Bachrach, AAAI 2021).",
        epilog="Exit codes: 0 ok, 2 usage error or bad input, 1 unexpected error. See docs/cli.md.",
    )
    from crembo import __version__

    parser.add_argument("--version", action="version", version=f"crembo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "compress",
        help="compress one teacher into a student tree",
        description="Fit (or load) a teacher, compress it with CREMBO, compare with the BM and VT "
        "baselines on a test split, and write the student, a report and plots.",
    )
    _add_compress_options(p)

    b = sub.add_parser(
        "batch",
        help="run many compressions described in a TOML file",
        description="Run every [[job]] of a TOML file (keys: the compress options, e.g. "
        "data, target, fit, depth; a [defaults] table applies to all jobs) and write "
        "summary.md, summary.csv and summary.json. A failing job is reported and the "
        "others still run. The output folder appears when the batch ends.",
    )
    b.add_argument("jobs", metavar="JOBS.toml")
    b.add_argument(
        "--out",
        metavar="DIR",
        help="the batch's output folder: one folder per job (its name, or its out: a path inside "
        "DIR) and the summary (default: <JOBS>-results beside the TOML file)",
    )
    b.add_argument("--trust", action="store_true", help=_TRUST_HELP + "; applies to every job")
    b.add_argument("--trusted", action="append", default=[], metavar="TYPE", help=_TRUSTED_HELP + "; every job")
    b.add_argument(
        "--overwrite",
        action="store_true",
        help="replace DIR if it holds an earlier crembo batch result (and nothing else)",
    )
    b.add_argument("-v", "--verbose", action="store_true", help="progress bars on stderr")

    s = sub.add_parser(
        "show",
        help="print a saved student tree and what it is",
        description="Print a student's classes, features, depth and tree, with the feature "
        "names saved in the student (or in a report.json beside it).",
    )
    s.add_argument("student", metavar="STUDENT.skops")
    s.add_argument("--trusted", action="append", default=[], metavar="TYPE", help=_TRUSTED_HELP)
    s.add_argument("--decimals", type=_int_at_least(0), default=2, help="decimals of split thresholds")
    return parser
