"""Content negotiation for the OpenAI-compatible API."""
from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation


class JsonWhateverTheAccept(DefaultContentNegotiation):
    """Always answer JSON (or the streamed/file body itself). SDKs send `Accept: application/binary` for
    file content and `text/event-stream` for streams, and OpenAI never answers 406."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
