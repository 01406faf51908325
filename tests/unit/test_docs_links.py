"""Every relative link in README.md and docs/*.md leads to a file that exists (and, with an
#anchor into a Markdown file, to a heading it has): the README is the door to the docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", FENCE.sub("", page.read_text(encoding="utf-8")), re.M):
        found.add(re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-"))
    return found


def links(page: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", page.read_text(encoding="utf-8")))


def test_the_pages_are_found() -> None:
    names = {page.name for page in PAGES}
    assert {"README.md", "contract.md", "deploy.md", "operations.md", "testing.md"} <= names
    assert "performance.md" in names


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):
            continue  # absolute (https:, mailto:): not checked offline
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        missing_anchor = anchor and file.suffix == ".md" and anchor not in anchors(file)
        if not file.exists() or missing_anchor:
            broken.append(target)
    assert broken == []


def test_the_anchor_rule_matches_github() -> None:
    # Given headings as the docs write them, Then the ids are GitHub's
    page = ROOT / "docs" / "deploy.md"
    assert {"5-rotate-the-api-key", "settings-cdk-context", "security-notes"} <= anchors(page)
