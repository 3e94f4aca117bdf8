"""The five real saved-text samples in shared/seeds, read at test time (never copied into the repo).

Skipped when the seeds folder is not next to the repository.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from services.ingest.clean import normalise_line
from services.ingest.formats import ExtractedArticle, ExtractionOptions, extract_articles

SEEDS = Path(__file__).resolve().parents[3] / ".." / "shared" / "seeds"

pytestmark = pytest.mark.skipif(not SEEDS.is_dir(), reason="shared/seeds not present next to the repository")

# title, start of the first story paragraph, start of the last story paragraph, allowed dates
EXPECTED: dict[str, tuple[str, str, str, set[dt.date | None]]] = {
    "000": (
        "Staying The Course, But Without Details – What Did Russian, Chinese Foreign Ministers Discuss?",
        "On March 30 and 31, Russian Foreign Minister Sergey Lavrov came to China.",
        "To summarize the two days of talks",
        {None},
    ),
    "001": (
        "Russia, China Discuss Roles in New “Multipolar, Equitable, and Democratic World Order”",
        "On Wednesday, Russian Foreign Minister Sergey Lavrov met",
        "Lavrov is set to arrive in India today",
        {None, dt.date(2022, 3, 31)},
    ),
    "002": (
        "Lavrov in China: backing from Beijing",
        "Russia and China are moving closer together amid war in Ukraine.",
        "The US is in line with the other members",
        {None},
    ),
    "003": (
        "China’s foreign minister holds talks with Russia’s Lavrov in Moscow",
        "China’s foreign minister has held talks with his Russian counterpart",
        "Kim’s trip fuelled Western concerns",
        {None},
    ),
    "004": (
        "China Emphasises Strategic Partnership With Russia During Lavrov Visit",
        "During a high-profile diplomatic meeting in Beijing",
        "China’s approach to its relationship with Russia",
        {None},
    ),
}

BOILERPLATE = [
    "Click to see full-size image",
    "gtag",
    "IMAGE SOURCE",
    "MORE ON THE TOPIC",
    "Notify of",
    "Newest Most Voted",
    "Inline Feedbacks",
    "View all comments",
    "hashed",
    "Comments",
    "Show More",
    "Related Articles",
    "Back to top button",
    "Breaking News",
    "bloggers like this",
    "International Agencies",
    "No comments",
    "Post a Comment",
    "Tommy Jensen",
]


def _seed(prefix: str) -> Path:
    [path] = sorted(SEEDS.glob(f"{prefix}_*.txt"))
    return path


@pytest.mark.parametrize("prefix", sorted(EXPECTED))
def test_seed_extracts_whole_story_without_boilerplate(prefix: str) -> None:
    title, first, last, dates = EXPECTED[prefix]
    path = _seed(prefix)
    [article] = extract_articles(path.name, path.read_bytes(), ExtractionOptions())
    assert isinstance(article, ExtractedArticle)
    assert article.title == title
    paragraphs = article.text.split("\n\n")
    # The story opens either the body or (for a teaser page) right after a standfirst-like first paragraph.
    assert any(p.startswith(first) for p in paragraphs[:2])
    assert paragraphs[-1].startswith(last)
    for junk in BOILERPLATE:
        assert junk not in article.text, junk
    title_key = normalise_line(title)
    assert all(normalise_line(p) != title_key for p in paragraphs)
    assert article.published_at in dates
    assert article.language == "en"
