"""Sphinx configuration: the docs site under docs/, built by scripts/docs.sh with warnings as errors."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "airflow-provider-metrika"
author = "airflow-provider-metrika contributors"
extensions = ["sphinx.ext.autodoc", "myst_parser"]
# Pages are Markdown (MyST) so that text moves between the README and the site unchanged; headings up to
# level 3 get GitHub-style anchors, so links such as waiting.md#partial-failures-... resolve (and -W checks them).
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"
exclude_patterns = ["_build", "README.md"]
html_theme = "alabaster"
suppress_warnings = ["ref.python"]
