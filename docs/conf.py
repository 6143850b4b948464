"""Sphinx configuration: the user guide (the Markdown pages beside this file) and an API
reference generated from the docstrings. Built in CI with warnings as errors:
``python -m sphinx -W --keep-going -b html docs docs/_build/html``."""

import crembo

project = "crembo"
author = "the crembo developers"
copyright = "2026, the crembo developers"
release = version = crembo.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",  # the docstrings are numpydoc-style
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3

autodoc_default_options = {"members": True, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "none"
# torch is an optional extra: document crembo.torch without needing it installed
autodoc_mock_imports = ["torch"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False


html_theme = "alabaster"
html_title = f"crembo {release}"
