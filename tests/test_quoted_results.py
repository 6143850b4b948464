"""The grid figures that README.md and the demo quote are those of the recorded run
(benchmarks/results/paper.json), so a rerun of the grid cannot leave them stale."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "benchmarks" / "results" / "paper.json"

pytestmark = pytest.mark.skipif(not RECORD.exists(), reason="the benchmark record is not beside the tests")


@pytest.fixture(scope="module")
def summary():
    return json.loads(RECORD.read_text())["summary"]


def _flat(text):
    return re.sub(r"\s+", " ", text)


def _demo_text():
    return _flat((ROOT / "src" / "crembo" / "demo.py").read_text().replace('"\n', "").replace('            "', ""))


def test_configurations_won_tied_lost(summary):
    diffs = [e["vs"]["best"]["mean_diff"] for e in summary.values()]
    won, tied, lost = sum(d > 0 for d in diffs), sum(d == 0 for d in diffs), sum(d < 0 for d in diffs)
    quoted = f"wins {won} configurations, ties {tied} and loses {lost}"
    assert quoted in _flat((ROOT / "README.md").read_text())
    assert quoted in _demo_text()


def test_folds_against_the_best_and_unweighted_baselines(summary):
    def totals(other):
        return "/".join(str(sum(e["vs"][other][k] for e in summary.values())) for k in ("wins", "ties", "losses"))

    readme = _flat((ROOT / "README.md").read_text())
    assert f"folds W/T/L {totals('best')}" in readme
    assert f"{totals('BM-u')} folds over BM-u" in readme
    assert f"{totals('VT-u')} over VT-u" in readme


def test_the_demos_configuration(summary):
    e = summary["dermatology/rf/d4"]
    v = e["vs"]["best"]
    crembo, best = e["accuracy"]["CREMBO"]["mean"], e["accuracy"]["best"]["mean"]
    quoted = (
        f"it wins {v['wins']} folds, ties {v['ties']} and loses {v['losses']} "
        f"({100 * crembo:.1f}% against {100 * best:.1f}%)"
    )
    assert quoted in _demo_text()


def test_agreement_configuration_by_configuration(summary):
    def counts(baseline):  # to 0.1 point, as results.md prints agreement
        d = [
            round(100 * e["robustness"]["CREMBO"]["agreement_mean"], 1)
            - round(100 * e["robustness"][baseline]["agreement_mean"], 1)
            for e in summary.values()
        ]
        return sum(x > 0 for x in d), sum(x == 0 for x in d), sum(x < 0 for x in d)

    readme = _flat((ROOT / "README.md").read_text())
    more, equal, less = counts("VT-u")
    assert f"agree less than VT-u's in {less} of the {len(summary)} (more in {more}, equally in {equal};" in readme
    more, equal, less = counts("VT-b")
    assert f"more than VT-b's in {more} (less in {less}," in readme
