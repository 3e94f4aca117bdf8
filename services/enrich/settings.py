from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from services.runtime.settings import ServiceSettings


class EnrichSettings(ServiceSettings):
    enrich_group_id: str = "newsflow-enrich"
    spacy_model: str = "en_core_web_sm"
    # spaCy components not loaded (SPACY_EXCLUDE='["lemmatizer"]'). Empty: every component of the small
    # English pipeline feeds something enrich emits (services/enrich/nlp.py says which, and what each
    # costs); a model with extra components (e.g. senter, textcat) can drop them here.
    spacy_exclude: tuple[str, ...] = ()
    # nlp.pipe batch size; see bench/results/enrich_throughput.md for how it was chosen.
    enrich_batch_size: int = 32
    taxonomy_path: Path | None = None  # default: the packaged IPTC Media Topics subset
    topic_model_path: Path | None = None  # default: the packaged level-1 topic classifier (.npz)
    # Where story clusters live: a SQLite file shared by the enrich processes of one host (local stack),
    # or Postgres (DATABASE_URL) shared by every replica on any host (deployments).
    story_state: Literal["sqlite", "postgres"] = "sqlite"
    stories_path: Path | None = None  # default: $NEWSFLOW_HOME/stories.sqlite3
    database_url: SecretStr | None = None
    # Postgres story state: stories not updated for this long are pruned (well past WEAK_WINDOW_DAYS).
    story_retention_days: float = 60.0
    story_prune_interval_seconds: float = 600.0

    @property
    def story_state_path(self) -> Path:
        return self.stories_path or self.newsflow_home / "stories.sqlite3"
