"""Fetching a voice note's bytes from the channel that received it, with a size cap.

Telegram: ``getFile`` gives the file's path, then ``/file/bot<token>/<path>``.
WhatsApp: the media id gives a short-lived URL (``GET /<media_id>``), fetched
with the same bearer token. Both downloads stream and stop at ``max_bytes``, so
a huge file is refused without being held in memory; the bytes go straight to
the decoder and are never written anywhere.
"""

from __future__ import annotations

from typing import Any

import httpx

from tutor.messages import Channel, Inbound

MAX_BYTES = 16 * 1024 * 1024


class FetchError(Exception):
    """Why the audio could not be fetched: ``reason`` is "too_big" or "unavailable"."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def _download(
    http: httpx.Client, url: str, headers: dict[str, str], max_bytes: int, timeout: float
) -> bytes:
    chunks: list[bytes] = []
    total = 0
    try:
        with http.stream("GET", url, headers=headers, timeout=timeout) as response:
            if response.status_code != 200:
                raise FetchError("unavailable", f"download answered {response.status_code}")
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > max_bytes:
                raise FetchError("too_big", f"{declared} bytes")
            for chunk in response.iter_bytes():
                total += len(chunk)
                if total > max_bytes:
                    raise FetchError("too_big", f"over {max_bytes} bytes")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise FetchError("unavailable", type(exc).__name__) from None
    return b"".join(chunks)


def telegram(
    http: httpx.Client,
    api_url: str,
    token: str,
    file_id: str,
    *,
    max_bytes: int = MAX_BYTES,
    timeout: float = 20.0,
) -> bytes:
    """The bytes of a Telegram file (voice note or audio)."""
    base = api_url.rstrip("/")
    try:
        response = http.get(
            f"{base}/bot{token}/getFile", params={"file_id": file_id}, timeout=timeout
        )
        body: Any = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise FetchError("unavailable", f"getFile failed ({type(exc).__name__})") from None
    if not isinstance(body, dict) or not body.get("ok") or not isinstance(body.get("result"), dict):
        raise FetchError("unavailable", f"getFile answered {response.status_code}")
    result = body["result"]
    size = result.get("file_size")
    if isinstance(size, int) and size > max_bytes:
        raise FetchError("too_big", f"{size} bytes")
    path = result.get("file_path")
    if not isinstance(path, str) or not path:
        raise FetchError("unavailable", "no file_path")
    return _download(http, f"{base}/file/bot{token}/{path}", {}, max_bytes, timeout)


def whatsapp(
    http: httpx.Client,
    api_url: str,
    access_token: str,
    media_id: str,
    *,
    max_bytes: int = MAX_BYTES,
    timeout: float = 20.0,
) -> bytes:
    """The bytes of a WhatsApp media id (voice note or audio)."""
    headers = {"Authorization": f"Bearer {access_token}"}
    try:
        response = http.get(f"{api_url.rstrip('/')}/{media_id}", headers=headers, timeout=timeout)
        body: Any = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise FetchError("unavailable", f"media lookup failed ({type(exc).__name__})") from None
    if response.status_code != 200 or not isinstance(body, dict):
        raise FetchError("unavailable", f"media lookup answered {response.status_code}")
    size = body.get("file_size")
    if isinstance(size, int) and size > max_bytes:
        raise FetchError("too_big", f"{size} bytes")
    url = body.get("url")
    if not isinstance(url, str) or not url:
        raise FetchError("unavailable", "no media url")
    return _download(http, url, headers, max_bytes, timeout)


def fetch(
    http: httpx.Client,
    inbound: Inbound,
    *,
    telegram_api_url: str = "",
    telegram_token: str = "",
    whatsapp_api_url: str = "",
    whatsapp_token: str = "",
    max_bytes: int = MAX_BYTES,
) -> bytes:
    """The audio of ``inbound`` from its channel; its declared size is checked first."""
    media = inbound.media
    if media is None:
        raise FetchError("unavailable", "no media in the message")
    if media.size_bytes is not None and media.size_bytes > max_bytes:
        raise FetchError("too_big", f"{media.size_bytes} bytes")
    if inbound.channel is Channel.TELEGRAM and telegram_token:
        return telegram(http, telegram_api_url, telegram_token, media.media_id, max_bytes=max_bytes)
    if inbound.channel is Channel.WHATSAPP and whatsapp_token:
        return whatsapp(http, whatsapp_api_url, whatsapp_token, media.media_id, max_bytes=max_bytes)
    raise FetchError("unavailable", f"no credentials for {inbound.channel.value}")
