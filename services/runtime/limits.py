"""The size policy of consumed events, in one place: what is too big to work on is refused before any work.

A message's bytes are checked before it is decoded; an article's text length right after (decoding is
cheap next to enrichment, whose cost grows with the text). Refusals become ``oversized`` dead letters in
the runner. Ingest applies its own object limits (``INGEST_MAX_OBJECT_BYTES``) to files; this is the guard
for events that reach a consumer anyway (a producer with other limits, a redrive, a hand-made message).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from services.runtime.messages import ConsumedMessage
from services.runtime.settings import ServiceSettings


@dataclass(frozen=True)
class SizePolicy:
    max_message_bytes: int
    max_text_chars: int

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> SizePolicy:
        return cls(max_message_bytes=settings.kafka_max_message_bytes, max_text_chars=settings.max_text_chars)

    def refuse_message(self, message: ConsumedMessage) -> str | None:
        """Why this message is too big to decode, or None."""
        size = 0 if message.value is None else len(message.value)
        if size > self.max_message_bytes:
            return f"a {size}-byte message is above the {self.max_message_bytes}-byte limit (KAFKA_MAX_MESSAGE_BYTES)"
        return None

    def refuse_event(self, event: BaseModel) -> str | None:
        """Why this decoded event is too big to work on, or None."""
        text = getattr(event, "text", None)
        if isinstance(text, str) and len(text) > self.max_text_chars:
            limit = self.max_text_chars
            return f"a text of {len(text)} characters is above the {limit}-character limit (MAX_TEXT_CHARS)"
        return None
