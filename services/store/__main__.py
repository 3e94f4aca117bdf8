"""Composition root of the store service: ``python -m services.store`` or ``newsflow store``."""

from __future__ import annotations

from services.contracts import TOPIC_MODELS, Stage, Topics
from services.runtime.lifecycle import (
    exit_when_unreachable,
    run_consuming_stage,
    start_process,
    wait_until_reachable,
)
from services.store.repository import Repository
from services.store.service import StoreHandler
from services.store.settings import StoreSettings


def main() -> None:
    settings = StoreSettings()
    stop, health = start_process(Stage.STORE, settings)
    with Repository(settings.database_url.get_secret_value()) as repository:
        # Postgres may come up after the store (a restart of both, a slow database): wait for it, not
        # ready meanwhile, rather than exit and leave it to a supervisor.
        with exit_when_unreachable():
            migrated = wait_until_reachable(
                "Postgres", repository.migrate, stage=Stage.STORE, settings=settings, stop=stop, health=health
            )
        if migrated is None:
            return  # stopped while waiting
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
