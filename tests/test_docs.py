"""The repository documents itself: every reference to its docs resolves, none points outside it."""

from __future__ import annotations

import re
import subprocess

from tests.servers import REPO_ROOT

DOCS = REPO_ROOT / "docs"
TEXT_SUFFIXES = {".py", ".md", ".toml", ".yml", ".yaml", ".sh", ".json"}
REFERENCE = re.compile(r"\b([a-z-]+\.md)#([A-Za-z0-9_-]+)")


def anchors(text: str) -> set[str]:
    """The anchors a Markdown page offers: its headings (GitHub's rule) and ``<a id>`` tags."""
    found = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', text))
    for heading in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug)
    return found


def tracked_text_files() -> dict[str, str]:
    names = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    texts = {}
    for name in names:
        path = REPO_ROOT / name
        if path.suffix in TEXT_SUFFIXES and path.is_file():
            texts[name] = path.read_text(encoding="utf-8")
    return texts


def test_every_docs_reference_resolves_to_a_section():
    pages = {page.name: anchors(page.read_text(encoding="utf-8")) for page in DOCS.glob("*.md")}
    assert {"design.md", "wattivahti-api.md", "library-notes.md"} <= set(pages)
    broken = [
        f"{name}: {page}#{anchor}"
        for name, text in tracked_text_files().items()
        for page, anchor in REFERENCE.findall(text)
        if page in pages and anchor not in pages[page]
    ]
    assert broken == []


def test_nothing_points_outside_the_repository():
    outside = [
        name
        for name, text in tracked_text_files().items()
        if re.search(r"\.\./shared|\bSDK_NOTES\.md|\bWATTIVAHTI_API\.md|\bDESIGN\.md", text)
        and name != "tests/test_docs.py"
    ]
    assert outside == []
