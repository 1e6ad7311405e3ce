"""Sphinx configuration of the imgrad documentation.

Build (warnings are errors; the gallery examples run during the build):

    python -m sphinx -W docs docs/_build/html

Needs the ``docs`` extra: ``pip install -e ".[docs]"``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import imgrad

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "imgrad"
author = "The imgrad developers"
copyright = "the imgrad developers"
version = release = imgrad.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "sphinx_copybutton",
    "sphinx_design",
    "imgrad_docs",  # docs/_ext: the CLI reference and the step table, from the code
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "**/*.zip"]
templates_path = ["_templates"]
# `name` links to the object when there is one (numpydoc also writes parameters so).
default_role = "autolink"
highlight_language = "text"  # code without a language is shown as typed
# Option names and quotes are shown as typed: "--tile", not an en dash and curly quotes.
smartquotes = False
nitpicky = False

# --- API reference ---------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
autodoc_member_order = "bysource"
# Methods are documented on the class page itself (templates/autosummary/class.rst).
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# --- Markdown pages --------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3

# --- Gallery ---------------------------------------------------------------------------
# Examples run from examples/ (sphinx-gallery changes into it) and read ../samples/.
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "imgrad_docs.GalleryOrder",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 10,
    "matplotlib_animations": False,
}
os.environ.setdefault("MPLBACKEND", "agg")

# --- HTML ------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"imgrad {release}"
html_static_path: list[str] = []
html_theme_options = {
    "navbar_align": "left",
    "header_links_before_dropdown": 8,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "performance": [], "architecture": []}
html_show_sourcelink = False
html_copy_source = False
