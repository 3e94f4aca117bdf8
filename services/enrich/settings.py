from __future__ import annotations

from pathlib import Path

from services.runtime.settings import ServiceSettings


class EnrichSettings(ServiceSettings):
    enrich_group_id: str = "newsflow-enrich"
    spacy_model: str = "en_core_web_sm"
    # nlp.pipe batch size; see bench/results/enrich_throughput.md for how it was chosen.
    enrich_batch_size: int = 32
    taxonomy_path: Path | None = None  # default: the packaged IPTC Media Topics subset
    topic_model_path: Path | None = None  # default: the packaged level-1 topic classifier (.npz)
    stories_path: Path | None = None  # default: $NEWSFLOW_HOME/stories.sqlite3

    @property
    def story_state_path(self) -> Path:
        return self.stories_path or self.newsflow_home / "stories.sqlite3"
