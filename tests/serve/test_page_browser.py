"""The web page in a real headless Chromium: load it, type a sentence, press Translate (and
Ctrl+Enter), read the translation and see the attention heatmap drawn."""

import shutil

import pytest

from nmt.bench.serve import ServerProcess

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium here (.ci/run installs Debian's chromium)")
def test_the_page_translates_and_draws_the_attention(imported_tiny1, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is a dev dependency")
    with ServerProcess(str(imported_tiny1), ["--threads", "1"]) as server, \
            sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server.url + "/")
        page.wait_for_selector("#pair option", state="attached")
        page.fill("#source", "A dog runs in the snow.")
        page.fill("#nbest", "2")
        page.click("#go")
        page.wait_for_function("document.querySelector('#output').textContent.length > 0")
        page.wait_for_function("Number(document.querySelector('#heatmap').dataset.cells) > 0")
        assert page.locator("#alternatives li").count() == 2
        assert "ms" in page.text_content("#latency")
        cells = int(page.get_attribute("#heatmap", "data-cells"))
        drawn = page.evaluate("""() => {
            const c = document.querySelector('#heatmap');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let coloured = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i] !== d[i + 2]) coloured++;
            return coloured; }""")
        assert cells > 0 and drawn > cells  # blue-shaded cells, not a blank canvas
        first = page.text_content("#output")
        page.fill("#source", "Two men sit.")
        page.press("#source", "Control+Enter")
        page.wait_for_function(f"document.querySelector('#output').textContent !== {first!r}")
        page.screenshot(path=str(tmp_path / "page.png"))
        browser.close()
    assert (tmp_path / "page.png").stat().st_size > 5000
    assert not errors
