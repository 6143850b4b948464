"""``python -m crembo.demo`` (the README's first command) prints every model's row and the student."""

import contextlib
import io

from crembo import demo


def test_demo_prints_crembo_beside_the_four_baselines():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        demo.main(["--dataset", "iris", "--depth", "2"])
    text = out.getvalue()
    for row in (
        "teacher: forest",
        "CREMBO: depth-2 tree",
        'CREMBO: selection="paper"',
        "BM: true labels, balanced",
        "BM: true labels, unweighted",
        "VT: teacher labels, balanced",
        "VT: teacher labels, unweighted",
    ):
        assert row in text
    assert "refit on all 112 training rows" in text
    assert "|--- class:" in text.split("The student:")[1]
