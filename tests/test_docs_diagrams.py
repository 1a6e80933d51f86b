"""Every Mermaid diagram in the docs draws: each block is rendered by mermaid.js in a real
headless Chromium, as a reader's browser draws it on the site.

The site loads mermaid from ``mkdocs.yml``'s ``extra_javascript`` (a CDN); the test uses
the same version from the npm registry, installed by ``.ci/run``
(``npm install mermaid@<version>``) and named by ``OUTLOOK_SYNC_MERMAID_JS``. A syntax
error in a diagram, which the strict docs build cannot see (it only wraps the text in a
``<div class="mermaid">``), fails here.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.browser import headless_chromium
from tests.conftest import missing
from tests.test_docs_code import PAGES, ROOT, blocks

MERMAID_ENV = "OUTLOOK_SYNC_MERMAID_JS"
DIAGRAMS = [block for page in PAGES for block in blocks(page) if block.lang == "mermaid"]

_RENDER = """
const [sources, done] = arguments;
mermaid.initialize({startOnLoad: false, securityLevel: "strict"});
Promise.all(sources.map(async (source, n) => {
    try {
        const {svg} = await mermaid.render("diagram" + n, source);
        return svg.includes("<svg") && !svg.includes("Syntax error") ? "ok" : "no drawing";
    } catch (error) {
        return "error: " + (error && error.message ? error.message : String(error));
    }
})).then(done, (error) => done(["error: " + String(error)]));
"""


def site_mermaid_version() -> str:
    """The mermaid version ``mkdocs.yml`` loads for the site."""
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    found = re.search(r"mermaid@([0-9.]+)/dist/mermaid\.min\.js", config)
    assert found, "mkdocs.yml no longer names a mermaid version"
    return found.group(1)


def test_the_ci_installs_the_mermaid_the_site_uses() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f"mermaid@{site_mermaid_version()}" in ci


def test_every_diagram_in_the_docs_draws(tmp_path: Path) -> None:
    assert len(DIAGRAMS) >= 4
    script = os.environ.get(MERMAID_ENV)
    if not script or not Path(script).is_file():
        missing(f"${MERMAID_ENV} names no mermaid.min.js (npm install "
                f"mermaid@{site_mermaid_version()}; .ci/run does)")
    page = tmp_path / "diagrams.html"
    page.write_text(f'<!doctype html><meta charset="utf-8"><body>'
                    f'<script src="{Path(script).resolve().as_uri()}"></script></body>',
                    encoding="utf-8")
    browser = headless_chromium("--allow-file-access-from-files")
    try:
        browser.set_script_timeout(60)
        browser.get(page.as_uri())
        assert browser.execute_script("return typeof mermaid") == "object", "mermaid not loaded"
        results = browser.execute_async_script(_RENDER, [d.body for d in DIAGRAMS])
    finally:
        browser.quit()
    failed = {str(d): r for d, r in zip(DIAGRAMS, results, strict=True) if r != "ok"}
    assert failed == {}, json.dumps(failed, ensure_ascii=False, indent=1)


@pytest.mark.parametrize("broken", ["flowchart TB\n  a --> --> b", "sequenceDiagram\n  A->>"])
def test_a_broken_diagram_is_caught(tmp_path: Path, broken: str) -> None:
    script = os.environ.get(MERMAID_ENV)
    if not script or not Path(script).is_file():
        missing(f"${MERMAID_ENV} names no mermaid.min.js")
    page = tmp_path / "broken.html"
    page.write_text(f'<!doctype html><meta charset="utf-8"><body>'
                    f'<script src="{Path(script).resolve().as_uri()}"></script></body>',
                    encoding="utf-8")
    browser = headless_chromium("--allow-file-access-from-files")
    try:
        browser.set_script_timeout(60)
        browser.get(page.as_uri())
        (result,) = browser.execute_async_script(_RENDER, [broken])
    finally:
        browser.quit()
    assert result.startswith(("error:", "no drawing")), result
