"""Cap an uploaded file while Django parses the request body.

Call ``upload_guard`` before anything reads ``request.POST`` or
``request.FILES`` (a view that does so is ``csrf_exempt`` and checks CSRF
after it): a body announced larger than the limit is refused unread, and a
file is stopped at the limit while it streams, so no handler stores a byte
past it.
"""

from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest

# Room for the multipart boundaries and the small form fields beside the file.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class BodyTooLarge(Exception):
    """The request announced a body larger than any accepted upload."""


class LimitedUploadHandler(FileUploadHandler):
    """Stop reading a file once it passes ``limit`` bytes; remember that it did.

    It runs first in the chain, so no later handler stores a byte past the
    limit, and the rest of the body is drained without being kept.
    """

    def __init__(self, request: HttpRequest | None = None, *, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.received = 0
        self.exceeded = False

    def new_file(self, *args, **kwargs) -> None:
        self.received = 0
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def upload_guard(request: HttpRequest, *, limit: int) -> LimitedUploadHandler:
    """Refuse a body announced as too large; cap the file while it is parsed."""
    try:
        announced = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        announced = 0
    if announced > limit + MULTIPART_OVERHEAD_BYTES:
        raise BodyTooLarge()
    handler = LimitedUploadHandler(request, limit=limit)
    request.upload_handlers.insert(0, handler)
    return handler
