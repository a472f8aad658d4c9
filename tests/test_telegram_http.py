"""The aiohttp transport under python-telegram-bot: timeouts, network errors and uploads keep PTB's meaning."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from telegram import Bot, InputFile
from telegram.error import NetworkError, TimedOut

from bot.telegram.http import AiohttpTransport
from tests.support.bot_process import free_port


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, dict]]:
    seen: dict = {}
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({"ok": True, "result": True})

    async def echo(request: web.Request) -> web.Response:
        form = await request.post()
        seen.update({name: getattr(value, "filename", value) for name, value in form.items()})
        return web.json_response({"ok": True, "result": True})

    async def get_me(request: web.Request) -> web.Response:
        me = {"id": 123, "is_bot": True, "first_name": "b", "username": "b"}
        return web.json_response({"ok": True, "result": me})

    app = web.Application()
    app.router.add_post("/bot123:abc/getMe", get_me)
    app.router.add_post("/slow", slow)
    app.router.add_post("/bot123:abc/echo", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", seen
    release.set()
    await runner.cleanup()


async def test_read_timeout_becomes_timed_out(server) -> None:
    url, _ = server
    async with AiohttpTransport(pool_size=2) as transport:
        with pytest.raises(TimedOut):
            await transport.post(f"{url}/slow", read_timeout=0.2)


async def test_refused_connection_becomes_network_error() -> None:
    port = free_port()
    async with AiohttpTransport(pool_size=2) as transport:
        with pytest.raises(NetworkError, match=r"aiohttp\.ClientConnectorError"):
            await transport.post(f"http://127.0.0.1:{port}/nothing")


async def test_fields_and_files_reach_the_server(server) -> None:
    """Through python-telegram-bot's own request building: form fields, and multipart when a file is sent."""
    url, seen = server
    bot = Bot("123:abc", base_url=f"{url}/bot", request=AiohttpTransport(pool_size=2))
    async with bot:
        document = InputFile(b"%PDF", filename="a.pdf", attach=True)
        assert await bot.do_api_request("echo", api_kwargs={"chat_id": 7, "document": document}) is True
        assert seen == {"chat_id": "7", "document": document.attach_uri, document.attach_name: "a.pdf"}
        assert await bot.do_api_request("echo", api_kwargs={"text": "hé #tags"}) is True
    assert seen["text"] == "hé #tags"
