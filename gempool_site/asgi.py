"""ASGI entry point, for completeness; gempool is served by gunicorn over WSGI."""
from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gempool_site.settings")
application = get_asgi_application()
