"""A small JSON client for the Dojo API over urllib."""

from __future__ import annotations

import json
import mimetypes
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

USER_AGENT = "dojo-client/1"


class ClientError(Exception):
    """A refusal or failure, with a message a participant can act on."""


class ApiClient:
    """Talk to one Dojo site with one token."""

    def __init__(
        self, base_url: str, token: str | None = None, *, timeout: float = 30.0
    ) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ClientError(
                f"“{base_url}” is not a web address. Give the site's address, "
                "for example --url http://127.0.0.1:8000"
            )
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def get(self, path: str, **query: Any) -> Any:
        """GET an API path and return its JSON."""
        clean = {key: value for key, value in query.items() if value is not None}
        if clean:
            path = f"{path}?{urllib.parse.urlencode(clean)}"
        return self._request("GET", path)

    def post(self, path: str, data: dict[str, Any] | None = None) -> Any:
        """POST a JSON body to an API path and return its JSON."""
        body = json.dumps(data or {}).encode()
        return self._request("POST", path, body, "application/json")

    def upload(
        self, path: str, fields: dict[str, str], file_field: str, file_path: Path
    ) -> Any:
        """POST fields and one file as multipart/form-data."""
        boundary = f"dojo-{uuid.uuid4().hex}"
        parts: list[bytes] = []
        for name, value in fields.items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'
                f"\r\n\r\n{value}\r\n".encode()
            )
        content_type = (
            mimetypes.guess_type(file_path.name)[0] or "application/octet-stream"
        )
        filename = file_path.name.replace('"', "_")
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
            f'filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n".encode()
        )
        parts.append(file_path.read_bytes())
        parts.append(f"\r\n--{boundary}--\r\n".encode())
        return self._request(
            "POST", path, b"".join(parts), f"multipart/form-data; boundary={boundary}"
        )

    def _request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> Any:
        url = f"{self.base_url}/api/{path.lstrip('/')}"
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if content_type:
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return self._decode(response.read(), response.status, url)
        except urllib.error.HTTPError as exc:
            raise ClientError(self._explain(exc, url)) from None
        except urllib.error.URLError as exc:
            raise ClientError(
                f"Cannot reach Dojo at {self.base_url}: {exc.reason}. Check the "
                "address (--url or DOJO_URL) and your network."
            ) from None
        except TimeoutError:
            raise ClientError(
                f"Dojo at {self.base_url} did not answer within {self.timeout:.0f} s."
            ) from None

    def _decode(self, raw: bytes, status: int, url: str) -> Any:
        try:
            return json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ClientError(
                f"{url} answered {status} with something that is not JSON: is "
                f"{self.base_url} a Dojo site? Check --url."
            ) from None

    def _explain(self, exc: urllib.error.HTTPError, url: str) -> str:
        raw = exc.read()
        detail = ""
        try:
            payload = json.loads(raw.decode("utf-8"))
            if isinstance(payload, dict):
                detail = str(payload.get("detail") or _flatten(payload))
        except (UnicodeDecodeError, json.JSONDecodeError):
            payload = None
        if exc.code == 401:
            if not self.token:
                return (
                    "You are not logged in. Run `python -m dojo_client login` or "
                    "pass --token (or set DOJO_TOKEN)."
                )
            return (
                f"The server refused your token ({detail or 'invalid token'}). Get a "
                "new one with `python -m dojo_client login` and pass it with --token "
                "or DOJO_TOKEN."
            )
        if payload is None:
            return (
                f"{url} answered {exc.code} {exc.reason} without a Dojo message: is "
                f"{self.base_url} a Dojo site? Check --url."
            )
        if exc.code == 429:
            return f"Too many requests: {detail}"
        return detail or f"{url} answered {exc.code} {exc.reason}."


def _flatten(payload: dict[str, Any]) -> str:
    parts = []
    for key, value in payload.items():
        text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(text if key == "non_field_errors" else f"{key}: {text}")
    return " ".join(parts)
