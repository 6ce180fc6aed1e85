"""WSGI entry point (gunicorn gempool_site.wsgi): Django, behind the request-body deadline."""
from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gempool_site.settings")
django_application = get_wsgi_application()

from gempool_site.body_deadline import BodyReadDeadline  # noqa: E402 - needs the settings configured above

application = BodyReadDeadline(django_application)
