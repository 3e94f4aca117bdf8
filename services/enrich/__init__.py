"""Enrich stage: entities, quotes, topics, keyphrases and story clusters for cleaned articles.

Bump ``ENRICHER_VERSION`` whenever the output for the same input can change (rules, taxonomy data,
thresholds), so downstream consumers can tell which enrichment logic produced a record.
"""

ENRICHER_VERSION = "0.3.1"
