"""Vocabulary and tunables of headline choice in HTML pages (services/ingest/formats/html_headline.py).
Data only. Thresholds were tuned on the non-test part of the extraction dev set."""

from __future__ import annotations

import re

__all__ = [
    "CONTENT_TOKEN_MIN_CHARS",
    "DATED",
    "DOMAIN_LIKE",
    "HEADING_MIN_OVERLAP",
    "HEADING_XPATH",
    "HEADLINE_MAX_WORDS",
    "HEADLINE_MIN_PART_WORDS",
    "HEADLINE_MIN_WORDS",
    "IN_TITLE_MIN_OVERLAP",
    "LEAD_MAX_LINES",
    "LEAD_PARAGRAPH_MIN_WORDS",
    "MARKED_HEADING",
    "MAX_HEADINGS",
    "NOT_A_HEADLINE",
    "SEGMENT_MIN_OVERLAP",
    "SEGMENT_MIN_WORDS",
    "SEGMENT_SHARE_OF_HEADING",
    "SITE_COLON",
    "TITLE_SEPARATORS",
    "TITLE_UNDERSCORES",
    "TRIM_MIN_SHARE",
    "TRIM_SEPARATOR",
    "WIDGET_HEADING",
]

HEADING_XPATH = (
    "//h1|//h2|//h3|//*[contains(translate(@class,'HEADLINE','headline'),'headline')]"
    "|//*[contains(translate(@id,'HEADLINE','headline'),'headline')]"
)
# Elements whose class, id or itemprop names them a headline ("article_headline", itemprop=headline): markup
# that says what the element is, as much as an <h1> does. (Adding "title" and "heading" classes as headings
# matched .86/.78 dev/test but cost 6% of HTML throughput: more headings to read and weigh on every page.)
MARKED_HEADING = re.compile(r"headline", re.IGNORECASE)
# Between a headline and what a <title> adds to it: a trimmed part must end where one of these stands.
TRIM_SEPARATOR = re.compile(r"^[\s]*[-|:–—»·]+|[-|:–—»·]+[\s]*$")
MAX_HEADINGS = 60
HEADLINE_MIN_WORDS = 2
HEADLINE_MAX_WORDS = 30
CONTENT_TOKEN_MIN_CHARS = 4  # shorter words are mostly function words in the languages we see
HEADING_MIN_OVERLAP = 0.5
IN_TITLE_MIN_OVERLAP = 0.2
SEGMENT_MIN_OVERLAP = 0.5
"""A <title> segment is the headline when at least this share of its content words are in the body."""
LEAD_PARAGRAPH_MIN_WORDS = 25
"""The main text's first line this long is the story's first paragraph: headline candidates sit above it."""
LEAD_MAX_LINES = 12
# A date or a clock time: what datelines and teaser lists carry and headlines do not.
DATED = re.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2}\b|\b\d{1,2}(?:st|nd|rd|th)? "
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)|\b\d{1,4}[/.-]\d{1,2}[/.-]\d{2,4}\b|\b\d{1,2}:\d\d\b",
    re.IGNORECASE,
)
SEGMENT_MIN_WORDS = 3
SEGMENT_SHARE_OF_HEADING = 0.6
"""A heading that adds a date or a kicker to a <title> segment still has this share of its words in it."""
TRIM_MIN_SHARE = 0.5
"""A page element that prints only part of the chosen headline ("Site: Headline" in the <title>, "Headline"
on the page) replaces it when it has at least this share of its words, taken from one end."""
HEADLINE_MIN_PART_WORDS = 4  # "Sport", "The Hindu", "Press TV" are site or section names

# Between a headline and the section or site name in a <title>: "Headline - Sport - Site", "Site | Headline".
# A colon is not among them: "Iran: who is threatening whom?" is one headline; only a site name before a
# colon ("example.com: Headline") is cut, see SITE_COLON.
TITLE_SEPARATORS = re.compile(r"\s+[-|–—>»·]+\s+|\s*[|»]\s*|\s+--\s+|\s+:+\s+")
# "Headline_Section_Site", a CMS habit: underscores between spaced words, never inside a word run.
TITLE_UNDERSCORES = re.compile(r"(?<=\S)_(?=[A-Z])")
SITE_COLON = re.compile(r"^(?P<site>[^:]{2,60}):\s+(?P<rest>.+)$")
DOMAIN_LIKE = re.compile(r"\b[\w-]+\.(?:com|net|org|co\.uk|co|info|tv|biz|us|uk|ca|au|in|de|fr)\b", re.IGNORECASE)
# Widget, box and link labels that share words with any story and are never its headline: "Bookmark
# with:", "Your say", "More on…", "Photo gallery", "Other news in science", "Have your say on this story",
# "Write to the editor", "Want to submit a story?", "Digg this", "Back to front page", "Your browser does
# not support script". Used on HTML headings and on headline candidates in saved text.
WIDGET_HEADING = re.compile(
    r"^(?:more (?:on|from|in|news|stories)|other (?:news|stories)|related|most (?:read|popular|e-?mailed)|"
    r"see also|read more|share|bookmark|your say|have your say|write to|photo gallery|photos?$|videos?$|"
    r"click|follow us|sign up|subscribe|e-?mail (?:this|to)|print|post a comment|leave a|add a comment|"
    r"\d* ?comments?$|want to|digg|like it|back to|go to|your browser|what'?s this|ad link|advertise|"
    r"news alerts)",
    re.IGNORECASE,
)
# In HTML a heading that ends with a colon labels a box ("Bookmark with:", "Also in this section:").
NOT_A_HEADLINE = re.compile(r":\s*$|" + WIDGET_HEADING.pattern, re.IGNORECASE)
