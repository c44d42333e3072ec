"""Refuse oversized submissions before the file is read whole (web.uploads)."""

from django.conf import settings
from django.http import HttpRequest

from web.uploads import BodyTooLarge, LimitedUploadHandler, upload_guard

__all__ = [
    "LimitedUploadHandler",
    "UploadTooLarge",
    "guard_upload",
    "too_large_message",
    "upload_limit_bytes",
]


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


def guard_upload(request: HttpRequest) -> LimitedUploadHandler:
    """Refuse a body announced as too large; cap the file while it is parsed.

    Call it before anything reads ``request.POST`` or ``request.FILES``.
    """
    try:
        return upload_guard(request, limit=upload_limit_bytes())
    except BodyTooLarge:
        raise UploadTooLarge() from None
