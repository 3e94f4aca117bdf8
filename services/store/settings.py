from __future__ import annotations

from pydantic import SecretStr

from services.runtime.settings import ServiceSettings


class StoreSettings(ServiceSettings):
    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/newsflow")
    store_group_id: str = "newsflow-store"
