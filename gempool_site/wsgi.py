"""WSGI entry point (gunicorn gempool_site.wsgi): Django, behind the request-body deadline, its responses'
heads sent with their first piece of body, each call (under gevent) on a greenlet of its own."""
from __future__ import annotations

import os

from django.conf import settings
from django.core.signals import request_started
from django.core.wsgi import get_wsgi_application
from django.db import reset_queries

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gempool_site.settings")
django_application = get_wsgi_application()
if not settings.DEBUG:
    # Django empties every connection's query log as each request starts. Without DEBUG nothing fills it (a
    # test counting queries empties and refills it itself), and the emptying was 1 % of a chat request's CPU.
    request_started.disconnect(reset_queries)

from gempool_site.body_deadline import BodyReadDeadline  # noqa: E402 - needs the settings configured above
from gempool_site.fresh_stack import DjangoOnFreshStack  # noqa: E402
from gempool_site.response_cork import HeadWithFirstPiece  # noqa: E402

application = BodyReadDeadline(HeadWithFirstPiece(DjangoOnFreshStack(django_application)))
