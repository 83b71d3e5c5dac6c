"""The one model an app serves, as every route sees it: the model, its tokenizer and name, its batch
engine, its request log, its limits, and the API key a request must carry."""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field
from typing import Any

from llmviz.serving import protocol
from llmviz.serving.engine import BatchEngine
from llmviz.serving.request_log import RequestLog


@dataclass
class ServedModel:
    model: Any
    tokenizer: Any
    name: str
    engine: BatchEngine
    log: RequestLog
    limits: protocol.Limits
    api_key: str | None = None  # None: no key needed
    created: int = field(default_factory=lambda: int(time.time()))

    def authorise(self, header: str) -> None:
        """Refuse a request whose Authorization header is not `Bearer <api_key>` (when a key is set)."""
        if self.api_key is None:
            return
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise protocol.APIError(401, "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'.",
                                    None, "missing_api_key")
        if not hmac.compare_digest(given.strip().encode(), self.api_key.encode()):  # constant time: no timing leak
            raise protocol.APIError(401, "Incorrect API key provided.", None, "invalid_api_key")

    def check_model(self, name: str) -> None:
        if name != self.name:
            raise protocol.APIError(404, f"The model '{name}' does not exist. This server serves '{self.name}'.",
                                    "model", "model_not_found")

    def card(self) -> dict:
        return {"id": self.name, "object": "model", "created": self.created, "owned_by": "llmviz"}
