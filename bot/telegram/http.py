"""python-telegram-bot's Bot API transport on aiohttp instead of httpx.

Under load a third of the bot's time went to httpx and httpcore: three Bot
API exchanges per photo (getFile, the download, sendMessage), each costing
several times the CPU it costs through aiohttp (docs/benchmarks.md, issue 7,
round 3). aiohttp is already installed for discord.py, and `BaseRequest` is
python-telegram-bot's documented place for another HTTP library. Timeouts keep python-telegram-bot's meaning
(connect, read, pool); errors become its `TimedOut` (sent, no answer in
time) and `NetworkError` (failed, or never sent), so its retries and our
error handling work unchanged.
"""

from __future__ import annotations

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

# python-telegram-bot's HTTPXRequest defaults, in seconds.
READ_TIMEOUT, CONNECT_TIMEOUT, POOL_TIMEOUT = 5.0, 5.0, 1.0


class AiohttpTransport(BaseRequest):
    """One aiohttp session with a pool of `pool_size` connections."""

    def __init__(self, pool_size: int) -> None:
        self._pool_size = pool_size
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float:
        return READ_TIMEOUT

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                timeout=aiohttp.ClientTimeout(total=None),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: float | None = BaseRequest.DEFAULT_NONE,
        write_timeout: float | None = BaseRequest.DEFAULT_NONE,
        connect_timeout: float | None = BaseRequest.DEFAULT_NONE,
        pool_timeout: float | None = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send the request; aiohttp has no separate write timeout, so `write_timeout` is not applied."""
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpTransport is not initialized")
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=_given(pool_timeout, POOL_TIMEOUT),
            sock_connect=_given(connect_timeout, CONNECT_TIMEOUT),
            sock_read=_given(read_timeout, READ_TIMEOUT),
        )
        try:
            async with self._session.request(method, url, data=_body(request_data), timeout=timeout) as response:
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError as error:
            # Nothing reached Telegram, so trying again cannot post a message twice.
            raise NetworkError(f"aiohttp.{type(error).__name__}: connect timeout") from error
        except TimeoutError as error:
            # Sent, but no answer in time: it may have arrived (see bot.telegram.retry).
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error


def _given(value: float | None, default: float) -> float | None:
    """The caller's timeout, or ours when python-telegram-bot passed its "not given" marker."""
    return default if isinstance(value, type(BaseRequest.DEFAULT_NONE)) else value


def _body(request_data: RequestData | None) -> aiohttp.FormData | dict[str, str] | None:
    """Form fields as python-telegram-bot encodes them; multipart only when files are attached."""
    if request_data is None:
        return None
    if not request_data.contains_files:
        return request_data.json_parameters
    form = aiohttp.FormData(request_data.json_parameters)
    for name, (filename, content, mime_type) in request_data.multipart_data.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form
