from __future__ import annotations

from django.contrib import admin
from django.db import transaction

from files_app import storage
from files_app.models import GeneratedMedia, StoredFile, UpstreamFile


def _delete_after_commit(area: str, names: list[str]) -> None:
    # Bytes go only once the rows are gone for sure; a rolled-back delete must not lose the files.
    transaction.on_commit(lambda: [storage.delete(area, name) for name in names])


@admin.register(StoredFile)
class StoredFileAdmin(admin.ModelAdmin):
    list_display = ["id", "filename", "mime_type", "size", "purpose", "owner", "created_at"]
    search_fields = ["id", "filename", "sha256"]
    list_filter = ["purpose", "mime_type"]
    readonly_fields = [f.name for f in StoredFile._meta.fields]

    def delete_model(self, request, obj: StoredFile) -> None:
        name = obj.storage_name
        super().delete_model(request, obj)
        _delete_after_commit(storage.UPLOADS, [name])

    def delete_queryset(self, request, queryset) -> None:
        names = list(queryset.values_list("storage_name", flat=True))
        super().delete_queryset(request, queryset)
        _delete_after_commit(storage.UPLOADS, names)


@admin.register(UpstreamFile)
class UpstreamFileAdmin(admin.ModelAdmin):
    list_display = ["stored_file", "account", "upstream_file_id", "created_at"]
    readonly_fields = ["stored_file", "account", "session", "upstream_file_id", "created_at"]


@admin.register(GeneratedMedia)
class GeneratedMediaAdmin(admin.ModelAdmin):
    list_display = ["name", "mime_type", "size", "account", "created_at"]
    search_fields = ["name", "upstream_file_id"]
    readonly_fields = ["name", "mime_type", "size", "upstream_file_id", "account", "created_at"]

    def delete_model(self, request, obj: GeneratedMedia) -> None:
        name = storage.sharded(obj.name)
        super().delete_model(request, obj)
        _delete_after_commit(storage.MEDIA, [name])

    def delete_queryset(self, request, queryset) -> None:
        names = [storage.sharded(name) for name in queryset.values_list("name", flat=True)]
        super().delete_queryset(request, queryset)
        _delete_after_commit(storage.MEDIA, names)
