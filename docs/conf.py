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

autodoc_default_options = {
    "members": True,
    "show-inheritance": False,
    # scikit-learn's generated metadata-routing methods: their docstrings cite sklearn's own glossary
    "exclude-members": "set_fit_request, set_score_request, set_predict_request, set_predict_proba_request, "
    "set_fit_allowed_request",
}
autodoc_member_order = "bysource"
autodoc_typehints = "none"
# torch is an optional extra: document crembo.torch without needing it installed
autodoc_mock_imports = ["torch"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
# Attributes sections as fields: a NamedTuple's fields are documented once, by autodoc
napoleon_use_ivar = True


html_theme = "alabaster"
html_title = f"crembo {release}"
