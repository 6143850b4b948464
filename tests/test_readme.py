"""The README's example runs and prints what the README says it prints."""

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


@pytest.mark.skipif(not README.exists(), reason="README.md is not beside the tests (installed elsewhere)")
def test_readme_example_prints_the_stated_results():
    example = _python_blocks()[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(example, "README example", "exec"), {"__name__": "readme"})
    printed = out.getvalue()
    # the block after "prints the tree, then" quotes the lines the example ends with
    after = README.read_text().split("prints the tree, then", 1)[1]
    stated = after.split("```\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(stated) >= 4
    assert printed.strip().splitlines()[-len(stated):] == stated
