"""Composition root of the store service: ``python -m services.store`` or ``newsflow store``."""

from __future__ import annotations

from services.contracts import TOPIC_MODELS, Stage, Topics
from services.runtime.lifecycle import exit_when_unreachable, run_consuming_stage, start_process
from services.store.repository import Repository
from services.store.service import StoreHandler
from services.store.settings import StoreSettings


def main() -> None:
    settings = StoreSettings()
    stop, health = start_process(Stage.STORE, settings)
    with Repository(settings.database_url.get_secret_value()) as repository:
        with exit_when_unreachable():
            repository.migrate()
        run_consuming_stage(
            stage=Stage.STORE,
            settings=settings,
            group_id=settings.store_group_id,
            models={
                Topics.ENRICHED: TOPIC_MODELS[Topics.ENRICHED],
                Topics.DEADLETTER: TOPIC_MODELS[Topics.DEADLETTER],
            },
            handler=StoreHandler(repository),
            stop=stop,
            health=health,
        )


if __name__ == "__main__":
    main()
