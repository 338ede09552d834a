"""Load a report page in Debian's headless Chromium through Playwright (no browser download) and return
what a reader would see: console errors, which figures rendered, the tables' text. Keeps a screenshot."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# Screenshots outlive pytest's rotating temporary directories here (git-ignored), or in L1ML_TEST_ARTIFACTS.
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


def load_page(html: Path, screenshot: Path) -> dict:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(html.resolve().as_uri(), wait_until="load")
            figures = page.evaluate(
                """() => Object.fromEntries([...document.querySelectorAll('figure')].map(f => {
                    const img = f.querySelector('img');
                    return [f.id, img ? {complete: img.complete, width: img.naturalWidth,
                                         height: img.naturalHeight} : null];
                }))"""
            )
            tables = page.evaluate(
                "() => Object.fromEntries([...document.querySelectorAll('table')].map(t => [t.id, t.innerText]))"
            )
            page.screenshot(path=str(screenshot), full_page=True)
            title = page.title()
        finally:
            browser.close()
    import os
    import shutil

    keep = Path(os.environ.get("L1ML_TEST_ARTIFACTS") or ARTIFACTS)
    keep.mkdir(parents=True, exist_ok=True)
    kept = shutil.copy(screenshot, keep / screenshot.name)
    return {"errors": errors, "figures": figures, "tables": tables, "title": title, "kept": kept}
