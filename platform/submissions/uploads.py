"""Refuse oversized uploads before the file is read whole."""

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest

# Room for the multipart boundaries and the small form fields beside the file.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def upload_limit_bytes() -> int:
    """Return the largest submission file the site accepts."""
    return settings.DOJO_UPLOAD_MAX_BYTES


def too_large_message() -> str:
    """Return what a participant reads when the file is too large."""
    limit = upload_limit_bytes()
    return (
        f"The file is larger than the {limit / 1024:.0f} KB limit. Submit only your "
        "training code: leave out data, models and notebook outputs "
        "(Cell > All Output > Clear)."
    )


class UploadTooLarge(Exception):
    """The request announced a body larger than any accepted submission."""

    def __init__(self) -> None:
        super().__init__(too_large_message())


class LimitedUploadHandler(FileUploadHandler):
    """Stop reading a file once it passes the limit; remember that it did.

    It runs first in the chain, so no later handler stores a byte past the
    limit, and the rest of the body is drained without being kept.
    """

    def __init__(self, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.limit = upload_limit_bytes()
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


def guard_upload(request: HttpRequest) -> LimitedUploadHandler:
    """Refuse a body announced as too large; cap the file while it is parsed.

    Call it before anything reads ``request.POST`` or ``request.FILES``.
    """
    try:
        announced = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        announced = 0
    if announced > upload_limit_bytes() + MULTIPART_OVERHEAD_BYTES:
        raise UploadTooLarge()
    handler = LimitedUploadHandler(request)
    request.upload_handlers.insert(0, handler)
    return handler
