"""/image/<name> (mounted at the site root)."""
from __future__ import annotations

from django.urls import re_path

from files_app import views

# Everything below image/ reaches the view (slashes, dots and all), so a path trick gets the same JSON
# 404 as an unknown name instead of falling through to an HTML page; the view validates strictly.
urlpatterns = [
    re_path(r"^image/(?P<name>.*)$", views.image, name="generated-media"),
]
