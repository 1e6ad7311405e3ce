"""The documentation site: built with Sphinx, crawled, and looked at in headless Chromium.

The site is built once per session with the README's documented command
(``python -m sphinx -W docs OUT``, warnings are errors), or taken from
``$IMGRAD_DOCS_HTML`` when that folder already holds a build (CI builds it
first). Tests that need the build skip without the ``docs`` extra; the browser
tests skip without Chromium (``apt-get install chromium``).
"""

from __future__ import annotations

import functools
import html.parser
import importlib.util
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from tests.docs import chromium

ROOT = Path(__file__).resolve().parents[2]
DOCS_EXTRA = ("sphinx", "numpydoc", "pydata_sphinx_theme", "sphinx_gallery", "myst_parser")
BUILD_TIMEOUT = 600
#: Pages opened in the browser: (path in the site, words its title must contain).
PAGES = {
    "index": ("index.html", "imgrad"),
    "api-sobel": ("generated/imgrad.sobel.html", "imgrad.sobel"),
    "gallery-sobel": ("auto_examples/plot_sobel.html", "Sobel gradients"),
}
EXTERNAL = ("http:", "https:", "mailto:", "tcp:", "data:", "javascript:")


# --- the built site ------------------------------------------------------------------


def _missing_docs_extra() -> list[str]:
    return [name for name in DOCS_EXTRA if importlib.util.find_spec(name) is None]


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built site: ``$IMGRAD_DOCS_HTML`` if it holds one, else built now."""
    given = os.environ.get("IMGRAD_DOCS_HTML")
    out = Path(given) if given else tmp_path_factory.mktemp("docs") / "html"
    if (out / "index.html").is_file():
        return out
    missing = _missing_docs_extra()
    if missing:
        pytest.skip(
            f'the docs extra is not installed (no {", ".join(missing)}): pip install -e ".[docs]"'
        )
    started = time.monotonic()
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "-q", "docs", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        env={**os.environ, "MPLBACKEND": "agg"},
    )
    assert build.returncode == 0, f"the docs build failed:\n{build.stdout}\n{build.stderr}"
    print(f"docs built in {time.monotonic() - started:.0f} s: {out}")
    return out


@pytest.fixture(scope="session")
def server(site: Path) -> Iterator[str]:
    """The site over HTTP on 127.0.0.1, as a browser sees a published site."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=site))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(scope="session")
def browser() -> Iterator[chromium.Browser]:
    executable = chromium.find()
    if executable is None:
        pytest.skip("no Chromium to look at the site with (apt-get install chromium)")
    with chromium.Browser(executable) as instance:
        yield instance


# --- every internal link resolves --------------------------------------------------


class _Links(html.parser.HTMLParser):
    """The anchors a page defines and the internal addresses it refers to."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors: set[str] = set()
        self.references: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("id", "name") if tag == "a" else ("id",):
            if values.get(name):
                self.anchors.add(values[name])
        for name in ("href", "src"):
            value = values.get(name)
            if value and not value.startswith(EXTERNAL):
                self.references.append(value)


def _parse(path: Path) -> _Links:
    links = _Links()
    links.feed(path.read_text(encoding="utf-8"))
    return links


def test_the_site_has_its_pages(site):
    for page in (
        "index.html",
        "api.html",
        "performance.html",
        "architecture.html",
        "user_guide/operators.html",
        "user_guide/pipelines.html",
        "user_guide/cli.html",
        "user_guide/cli_reference.html",
        "user_guide/datasets.html",
        "user_guide/big_images.html",
        "generated/imgrad.sobel.html",
        "generated/imgrad.Pipeline.html",
        "generated/imgrad.dask.apply.html",
        "auto_examples/index.html",
    ):
        assert (site / page).is_file(), page
    assert len(list((site / "auto_examples").glob("plot_*.html"))) >= 5


def test_every_internal_link_and_anchor_exists(site):
    # _static holds the theme's files, among them a Jinja template named .html.
    pages = {p: _parse(p) for p in site.rglob("*.html") if "_static" not in p.parts}
    broken = []
    for page, links in pages.items():
        for reference in links.references:
            address, _, fragment = urllib.parse.unquote(reference).partition("#")
            address = address.split("?", 1)[0]
            target = (page.parent / address).resolve() if address else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page.relative_to(site)}: {reference} (no such file)")
            elif fragment and target.suffix == ".html":
                anchors = pages[target].anchors if target in pages else _parse(target).anchors
                if fragment not in anchors:
                    broken.append(f"{page.relative_to(site)}: {reference} (no such anchor)")
    assert not broken, f"{len(broken)} broken internal links:\n" + "\n".join(broken[:40])


def test_the_command_line_reference_lists_every_command_and_option(site):
    from imgrad.cli import build_parser

    text = (site / "user_guide" / "cli_reference.html").read_text(encoding="utf-8")
    top = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices)
    for command in top.choices:
        parser = next(
            a for a in build_parser(command)._actions if hasattr(a, "choices") and a.choices
        ).choices[command]
        assert f'id="cli-{command}"' in text, command
        for action in parser._actions:
            for option in action.option_strings:
                assert option in text, f"imgrad {command} {option}"


# --- what a reader sees ---------------------------------------------------------------

# For each page: the title, whether a search box is there, every picture's
# natural and displayed size (lazy pictures are made to load first).
_LOOK = """(async () => {
  const images = [...document.querySelectorAll("article img, .bd-article img")];
  for (const img of images) {
    img.loading = "eager";
    img.scrollIntoView();
    try { await img.decode(); } catch (error) {}
  }
  window.scrollTo(0, 0);
  const search = document.querySelector(
    "input[type=search], input[name=q], .search-button-field, .search-button__button");
  return {
    title: document.title,
    heading: (document.querySelector("article h1, .bd-article h1") || {}).textContent || "",
    search: search !== null,
    images: images.map(img => {
      const box = img.getBoundingClientRect();
      return {src: img.getAttribute("src"), natural: [img.naturalWidth, img.naturalHeight],
              shown: [box.width, box.height]};
    }),
    height: document.documentElement.scrollHeight,
  };
})()"""


@pytest.fixture(scope="session")
def looked_at(browser, server, tmp_path_factory) -> dict[str, dict]:
    """Each page of PAGES loaded in Chromium: what it showed, its errors, a screenshot."""
    shots = Path(os.environ.get("IMGRAD_DOCS_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    shots.mkdir(parents=True, exist_ok=True)
    seen = {}
    for key, (path, _title) in PAGES.items():
        page = browser.open(server + path)
        view = page.evaluate(_LOOK)
        view["errors"] = list(page.errors)
        view["screenshot"] = page.screenshot(shots / f"{key}.png")
        page.send("Page.close")
        seen[key] = view
    return seen


@pytest.mark.parametrize("key", list(PAGES))
def test_the_page_renders_with_title_and_search(looked_at, key):
    view = looked_at[key]
    assert PAGES[key][1] in view["title"], view["title"]
    assert PAGES[key][1] in view["heading"], view["heading"]
    assert view["search"], "no search box"
    # The browser asks for /favicon.ico on its own, at a moment of its choosing.
    errors = [e for e in view["errors"] if not e.endswith("/favicon.ico")]
    assert not errors, errors
    assert view["height"] > 600, "the page is nearly empty"


@pytest.mark.parametrize("key", ["index", "gallery-sobel"])
def test_the_pictures_are_shown(looked_at, key):
    images = looked_at[key]["images"]
    assert images, "no pictures"
    for image in images:
        assert min(image["natural"]) > 0, f"{image['src']} did not load"
        assert min(image["shown"]) > 0, f"{image['src']} is not shown"


def test_the_gallery_page_shows_the_example_figures(looked_at):
    images = looked_at["gallery-sobel"]["images"]
    figures = [image for image in images if "sphx_glr_plot_sobel" in image["src"]]
    assert len(figures) >= 3, images


def test_the_api_page_shows_the_signature_and_parameters(browser, server):
    page = browser.open(server + PAGES["api-sobel"][0])
    found = page.evaluate(
        """({
          signature: (document.getElementById("imgrad.sobel") || {}).textContent || "",
          sections: [...document.querySelectorAll("dl.field-list dt, p.rubric")]
                      .map(e => e.textContent.trim()),
          example: document.querySelectorAll("div.highlight pre").length,
        })"""
    )
    page.send("Page.close")
    assert "imgrad.sobel(" in found["signature"] and "ksize" in found["signature"], found
    assert any(s.startswith("Parameters") for s in found["sections"]), found["sections"]
    assert any(s.startswith("Returns") for s in found["sections"]), found["sections"]
    assert found["example"] >= 1


def test_the_front_page_screenshot_is_a_page_not_a_blank(looked_at):
    import imgrad

    shot = imgrad.read(looked_at["index"]["screenshot"])
    assert shot.shape[1] == 1400 and shot.shape[0] >= 800, shot.shape
    # A rendered page has text, a picture and a navigation bar: far from uniform.
    assert float(np.std(shot)) > 20
    assert len(np.unique(shot.reshape(-1, shot.shape[-1])[::97], axis=0)) > 200
