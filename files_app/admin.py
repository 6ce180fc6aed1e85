from __future__ import annotations

from django.contrib import admin

from files_app.models import GeneratedMedia, StoredFile, UpstreamFile


@admin.register(StoredFile)
class StoredFileAdmin(admin.ModelAdmin):
    list_display = ["id", "filename", "mime_type", "size", "purpose", "owner", "created_at"]
    search_fields = ["id", "filename", "sha256"]
    list_filter = ["purpose", "mime_type"]
    readonly_fields = [f.name for f in StoredFile._meta.fields]


@admin.register(UpstreamFile)
class UpstreamFileAdmin(admin.ModelAdmin):
    list_display = ["stored_file", "account", "upstream_file_id", "created_at"]
    readonly_fields = ["stored_file", "account", "session", "upstream_file_id", "created_at"]


@admin.register(GeneratedMedia)
class GeneratedMediaAdmin(admin.ModelAdmin):
    list_display = ["name", "mime_type", "size", "account", "created_at"]
    search_fields = ["name", "upstream_file_id"]
    readonly_fields = ["name", "mime_type", "size", "upstream_file_id", "account", "created_at"]
