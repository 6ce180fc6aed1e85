"""/v1/files: OpenAI's Files API over our own storage (views parse, call one service, serialize)."""
from __future__ import annotations

from django.conf import settings
from django.http import FileResponse, HttpRequest
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from files_app import services
from files_app.serializers import FileListQuerySerializer, FileUploadSerializer, file_list, file_object
from files_app.uploads import StagingUploadHandler, too_large_error
from gempool_site.v1 import V1View

# Multipart framing around the file part (boundaries, headers, the purpose field) is small; anything
# declared beyond this is refused before reading a byte rather than drained.
MULTIPART_OVERHEAD = 1024 * 1024


class FilesView(V1View):
    """POST /v1/files (upload) and GET /v1/files (list)."""

    parser_classes = [MultiPartParser, FormParser]

    def initialize_request(self, request: HttpRequest, *args, **kwargs) -> Request:
        if request.method == "POST":
            # Must be set before anything reads the body: streams the file part into our storage, capped.
            request.upload_handlers = [StagingUploadHandler(request)]
        return super().initialize_request(request, *args, **kwargs)

    def post(self, request: Request) -> Response:
        limit = settings.GEMPOOL_MAX_UPLOAD_BYTES
        declared = request.META.get("CONTENT_LENGTH") or ""
        if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
            raise too_large_error(limit)
        form = FileUploadSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        record = services.stored_file_create(upload=upload, filename=upload.name or "upload",
                                             mime_type=upload.content_type,
                                             purpose=form.validated_data["purpose"], owner=request.auth)
        return Response(file_object(record), status=200)

    def get(self, request: Request) -> Response:
        query = FileListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        files, has_more = services.stored_file_list(owner=request.auth, purpose=params.get("purpose") or None,
                                                    limit=params["limit"], order=params["order"],
                                                    after=params.get("after") or None)
        return Response(file_list(files, has_more=has_more))


class FileDetailView(V1View):
    """GET and DELETE /v1/files/<id>."""

    def get(self, request: Request, file_id: str) -> Response:
        return Response(file_object(services.stored_file_get(file_id=file_id, owner=request.auth)))

    def delete(self, request: Request, file_id: str) -> Response:
        record = services.stored_file_get(file_id=file_id, owner=request.auth)
        services.stored_file_delete(stored_file=record)
        return Response({"id": file_id, "object": "file", "deleted": True})


class FileContentView(V1View):
    """GET /v1/files/<id>/content: the bytes, streamed."""

    def get(self, request: Request, file_id: str) -> FileResponse:
        record = services.stored_file_get(file_id=file_id, owner=request.auth)
        handle = services.stored_file_open(stored_file=record)
        return FileResponse(handle, content_type=record.mime_type, as_attachment=True, filename=record.filename)
