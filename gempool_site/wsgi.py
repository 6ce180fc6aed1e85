"""WSGI entry point (gunicorn gempool_site.wsgi): Django, behind the request-body deadline, its responses'
heads sent with their first piece of body."""
from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gempool_site.settings")
django_application = get_wsgi_application()

from gempool_site.body_deadline import BodyReadDeadline  # noqa: E402 - needs the settings configured above
from gempool_site.response_cork import HeadWithFirstPiece  # noqa: E402

application = BodyReadDeadline(HeadWithFirstPiece(django_application))
