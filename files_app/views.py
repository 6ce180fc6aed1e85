"""/image/<name>: generated media, public by unguessable name (a plain Django view, no auth)."""
from __future__ import annotations

from django.http import FileResponse, HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from files_app import media as media_services
from gempool_site.exceptions import NotFoundError, error_response

# Media never changes under a name, and names are never reused.
CACHE_CONTROL = "public, max-age=86400, immutable"


@require_safe
def image(request: HttpRequest, name: str) -> HttpResponse:
    """Serve one generated image/video; any malformed or unknown name is a JSON 404."""
    try:
        item = media_services.media_get(name=name)
        handle = media_services.media_open(media=item)
    except NotFoundError as exc:
        return error_response(404, exc.message, code="not_found")
    response = FileResponse(handle, content_type=item.mime_type)
    response["Cache-Control"] = CACHE_CONTROL
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = "inline"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"  # chat UIs on other origins embed these
    return response
