"""The runner's HTTP: JSON calls with its credential, and files by signed URL.

urllib only (no dependency to pin). A connection error or a 5xx is retried a
few times with a growing pause; a 4xx is the site's answer and is returned.
A request that gets no answer within `timeout` seconds (no byte moving either
way: a cut network) fails like a connection error. A download cut midway is
fetched again from its start the same way.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

CHUNK = 1024 * 1024
RETRIES = 4
FIRST_PAUSE = 0.5
USER_AGENT = "dojo-runner"


class SiteError(Exception):
    """The site refused (`status`), or could not be reached after retries."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    @property
    def unreachable(self) -> bool:
        """Say whether the site was not reached (worth trying again later)."""
        return self.status is None or self.status >= 500


class _Cut(Exception):
    """A download's body ended before its length."""


class Site:
    """One Dojo site, spoken to with one host credential."""

    def __init__(self, base: str, credential: str = "", timeout: float = 60) -> None:
        if not base.startswith(("http://", "https://")):
            raise SiteError(f"--site must be an http(s) URL, not {base!r}.")
        self.base = base.rstrip("/")
        self.credential = credential
        self.timeout = timeout

    def _request(
        self,
        method: str,
        path: str,
        data: bytes | None,
        headers: dict,
        *,
        credential: bool = True,
    ) -> urllib.request.Request:
        url = path if path.startswith("http") else self.base + path
        headers = {"User-Agent": USER_AGENT, **headers}
        if self.credential and credential:
            headers["Authorization"] = f"Bearer {self.credential}"
        return urllib.request.Request(url, data=data, method=method, headers=headers)

    def _open(
        self, request: urllib.request.Request, timeout: float, retries: int = RETRIES
    ):
        delay = FIRST_PAUSE
        for attempt in range(retries):
            try:
                return urllib.request.urlopen(request, timeout=timeout)
            except urllib.error.HTTPError as exc:
                if exc.code < 500 or attempt == retries - 1:
                    return exc
            except (urllib.error.URLError, OSError) as exc:
                if attempt == retries - 1:
                    raise SiteError(f"{request.full_url}: {exc}") from None
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def call(
        self, path: str, body: dict | None = None, *, timeout: float | None = None
    ) -> tuple[int, dict]:
        """POST JSON; return the status and the JSON answer ({} when none)."""
        data = json.dumps(body or {}).encode()
        request = self._request(
            "POST", path, data, {"Content-Type": "application/json"}
        )
        with self._open(request, timeout or self.timeout) as answer:
            status, raw = answer.status, answer.read(1024 * 1024)
        try:
            return status, json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise SiteError(
                f"{path}: the site answered {status} with no JSON"
            ) from None

    def download(self, url: str, target: Path, *, sha256: str, size: int) -> None:
        """Fetch `url` to `target` only if it has exactly `size` bytes and `sha256`.

        A body that ends short or breaks off (the site cut off a download it
        saw stall, the network broke) is fetched again from its start, a few
        times with a growing pause; none of a failed download is kept.
        """
        part = target.with_name(target.name + ".part")
        delay = FIRST_PAUSE
        try:
            for attempt in range(RETRIES):
                try:
                    digest, received = self._fetch(url, part, size)
                    break
                except (OSError, http.client.HTTPException, _Cut) as exc:
                    if attempt == RETRIES - 1:
                        raise SiteError(
                            f"a download failed {RETRIES} times, the last: {exc}"
                        ) from None
                time.sleep(delay)
                delay *= 2
            if received != size or digest != sha256:
                raise SiteError("a download did not have the size and sha256 announced")
            part.replace(target)
        finally:
            part.unlink(missing_ok=True)

    def _fetch(self, url: str, part: Path, size: int) -> tuple[str, int]:
        """Write `url`'s body to `part`; return its sha256 and length (more than
        `size` stops the read: that is no download of this file)."""
        digest, received = hashlib.sha256(), 0
        # A file URL carries its own signature, and may name an object store:
        # the host credential is never sent with it.
        request = self._request("GET", url, None, {}, credential=False)
        with self._open(request, self.timeout) as answer:
            if answer.status != 200:
                raise SiteError(f"download refused ({answer.status})", answer.status)
            with part.open("wb") as handle:
                while chunk := answer.read(CHUNK):
                    received += len(chunk)
                    if received > size:
                        break
                    digest.update(chunk)
                    handle.write(chunk)
        if received < size:
            raise _Cut(f"{received} of {size} bytes arrived")
        return digest.hexdigest(), received

    def upload(
        self, url: str, path: Path, size: int, headers: dict | None = None
    ) -> None:
        """PUT a file's exact bytes to a signed upload URL, with the headers
        the site said to send (an object store checks them against the URL)."""
        with path.open("rb") as handle:
            request = self._request(
                "PUT",
                url,
                handle,
                {
                    **(headers or {}),
                    "Content-Length": str(size),
                    "Content-Type": "application/octet-stream",
                },
                credential=False,
            )
            # One try: a body cut midway is retried with a fresh URL (`jobs`).
            with self._open(request, self.timeout, retries=1) as answer:
                if not 200 <= answer.status < 300:
                    body = answer.read(4096).decode("utf-8", "replace")
                    raise SiteError(
                        f"upload refused ({answer.status}): {body}", answer.status
                    )
