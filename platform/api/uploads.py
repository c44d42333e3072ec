"""The API's answer to an oversized upload."""

from rest_framework import status
from rest_framework.exceptions import APIException

from submissions.uploads import too_large_message


class UploadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "upload_too_large"

    def __init__(self) -> None:
        super().__init__(detail=too_large_message())
