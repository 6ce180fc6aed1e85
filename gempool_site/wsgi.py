"""WSGI entry point (gunicorn gempool_site.wsgi): Django, behind the request-body deadline, its responses'
heads sent with their first piece of body, each call (under gevent) on a greenlet of its own."""
from __future__ import annotations

import os

from django.conf import settings
from django.core.signals import request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, reset_queries

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gempool_site.settings")
django_application = get_wsgi_application()
# Two of Django's handlers as each request starts, each about 1 % of a chat request's CPU, have nothing to
# do here. The query log fills only under DEBUG (a test counting queries empties and refills it itself).
# With no persistent connections (CONN_MAX_AGE 0, Django's default and gempool_site.env's), each request
# closed its connections as it finished (close_old_connections stays on request_finished): none to check.
if not settings.DEBUG:
    request_started.disconnect(reset_queries)
if all(database.get("CONN_MAX_AGE", 0) == 0 for database in settings.DATABASES.values()):
    request_started.disconnect(close_old_connections)

from gempool_site.body_deadline import BodyReadDeadline  # noqa: E402 - needs the settings configured above
from gempool_site.fresh_stack import DjangoOnFreshStack  # noqa: E402
from gempool_site.response_cork import HeadWithFirstPiece  # noqa: E402

application = BodyReadDeadline(HeadWithFirstPiece(DjangoOnFreshStack(django_application)))
