"""Every python block of the README runs as written, and the first prints what the README says."""

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

pytestmark = pytest.mark.skipif(not README.exists(), reason="README.md is not beside the tests (installed elsewhere)")


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.fixture(scope="module")
def runs():
    """(printed text, exception or None) of each python block, each run on its own (a reader may
    copy any one of them)."""
    results = []
    for i, block in enumerate(_python_blocks()):
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(block, f"README.md python block {i + 1}", "exec"), {"__name__": "readme"})
        except Exception as exc:  # reported by the tests, block by block
            results.append((out.getvalue(), exc))
        else:
            results.append((out.getvalue(), None))
    return results


def test_every_python_block_runs_as_written(runs):
    assert len(runs) >= 2
    failed = {f"block {i + 1}": repr(exc) for i, (_, exc) in enumerate(runs) if exc is not None}
    assert failed == {}


def test_readme_example_prints_the_stated_results(runs):
    printed, exc = runs[0]
    assert exc is None, repr(exc)
    # the block after "prints the tree, then" quotes the lines the example ends with
    after = README.read_text().split("prints the tree, then", 1)[1]
    stated = after.split("```\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(stated) >= 4
    assert printed.strip().splitlines()[-len(stated) :] == stated
