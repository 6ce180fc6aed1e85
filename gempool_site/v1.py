"""The one base class of every /v1 view (the OpenAI-compatible API)."""
from __future__ import annotations

from rest_framework.views import APIView

from gempool_site.auth import ApiKeyAuthentication, HasApiKey
from gempool_site.negotiation import JsonWhateverTheAccept
from gempool_site.throttles import ApiKeyRateThrottle


# Every route under /v1 derives from this; tests/gempool_site/test_v1.py walks the URLconf to keep it so.
# (The docstring is the operations' description in the OpenAPI schema.)
class V1View(APIView):
    """Bearer API key, per-key rate limit, JSON errors in OpenAI's envelope."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]
    throttle_classes = [ApiKeyRateThrottle]
    content_negotiation_class = JsonWhateverTheAccept
