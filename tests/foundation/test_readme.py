"""The README is the entry page: short, and every page it (or a docs/ page) points to exists.

A link is a Markdown link `[text](target)` with a relative target, or a plain mention of `docs/NAME.md`
(resolved from the checkout's top). A `#fragment` on a Markdown page must name one of its headings, with
GitHub's rule for heading anchors.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAX_README_LINES = 150

LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
MENTION = re.compile(r"(?<![\w/.-])docs/[\w.-]+\.md")
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)


def _prose(text: str) -> str:
    """The text without fenced code blocks, whose `#` lines and brackets are not Markdown."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (backticks, dots, slashes,
    parentheses), spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading anchor of a page; a repeated heading gets -1, -2... as on GitHub."""
    seen: dict[str, int] = {}
    out = set()
    for m in HEADING.finditer(_prose(text)):
        s = slug(m.group(1))
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return out


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """The links of `page` whose file (or heading) does not exist, as 'target: why'."""
    text = _prose(page.read_text())
    problems = []
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, fragment = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            problems.append(f"{target}: no file {dest}")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest.read_text()):
            problems.append(f"{target}: no heading with anchor #{fragment} in {dest.name}")
    for mention in MENTION.findall(LINK.sub("", text)):
        if not (root / mention).is_file():
            problems.append(f"{mention}: no file {root / mention}")
    return problems


def test_readme_is_short():
    lines = README.read_text().splitlines()
    assert len(lines) < MAX_README_LINES, (
        f"README.md has {len(lines)} lines; keep it under {MAX_README_LINES}"
    )


def test_readme_links_resolve():
    text = _prose(README.read_text())
    assert any(t.startswith("docs/") for t in LINK.findall(text)), "the README links no docs/ page"
    assert broken_links(README) == []


def test_docs_links_resolve():
    pages = sorted((ROOT / "docs").glob("*.md"))
    assert pages
    problems = {p.name: broken_links(p) for p in pages}
    assert {name: found for name, found in problems.items() if found} == {}


def test_every_docs_page_is_reachable_from_the_readme():
    docs = ROOT / "docs"
    pages = {p.name for p in docs.glob("*.md")}
    reached = {
        Path(t.partition("#")[0]).name for t in LINK.findall(README.read_text()) if t.startswith("docs/")
    }
    # A page that a reached page links to is reached too (a page may be a detail of another).
    todo = sorted(reached & pages)
    while todo:
        for t in LINK.findall((docs / todo.pop()).read_text()):
            name = Path(t.partition("#")[0]).name
            if name in pages and name not in reached:
                reached.add(name)
                todo.append(name)
    assert pages - reached == set(), "docs/ pages that no link from the README reaches"


def test_link_check_finds_what_is_broken(tmp_path):
    (tmp_path / "docs").mkdir()
    good = tmp_path / "docs" / "good.md"
    good.write_text("# A page\n\n## Board-in-the-loop test (`hwtest`)\n\n## Notes\n\n## Notes\n")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/good.md) [ok](docs/good.md#board-in-the-loop-test-hwtest) [ok](docs/good.md#notes-1)\n"
        "[web](https://example.org/missing.md) [self](#intro)\n"
        "[missing](docs/missing.md) [bad anchor](docs/good.md#no-such-heading)\n"
        "See `docs/good.md` and `docs/gone.md`.\n"
        "```\n[in code](docs/code.md)\n```\n"
        "# Intro\n"
    )
    found = broken_links(page, root=tmp_path)
    assert [f.split(":")[0] for f in found] == [
        "docs/missing.md",
        "docs/good.md#no-such-heading",
        "docs/gone.md",
    ]


def test_slug_follows_github():
    assert slug("Validation (l1ml/validate/)") == "validation-l1mlvalidate"
    assert slug("Board-in-the-loop test (`hwtest`)") == "board-in-the-loop-test-hwtest"
    assert (
        slug("Measured (benchmarks/emulation.py, 10^6 events)") == "measured-benchmarksemulationpy-106-events"
    )
