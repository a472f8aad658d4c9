"""The web adapter: what the runner starts and stops; `bot.web.routes` answers the requests."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from bot.config import Config
from bot.pipeline import Pipeline
from bot.web import PLATFORM
from bot.web.routes import WebHandlers
from bot.web.security import BACKLOG, ClientIds, ConnectionCap, connection_limit

log = logging.getLogger(__name__)


class WebAdapter:
    """The web side as the runner sees it: listen, stop."""

    name = PLATFORM
    chat = False

    def __init__(self, config: Config, pipeline: Pipeline) -> None:
        self.config, self.pipeline = config, pipeline
        self.runner: web.AppRunner | None = None
        self.server: asyncio.Server | None = None
        self.running = None

    @property
    def address(self) -> str:
        host = self.config.web_host if ":" not in self.config.web_host else f"[{self.config.web_host}]"
        return f"http://{host}:{self.config.web_port}"

    async def start(self) -> None:
        """Listen, with idle connections closed after WEB_IDLE_TIMEOUT_SECONDS and at most WEB_MAX_CONNECTIONS."""
        client_ids = ClientIds(await self.pipeline.installation_secret("web_client_ids"))
        app = WebHandlers(self.config, self.pipeline, client_ids).application()
        # keepalive_timeout also closes a connection that has not sent a whole request's headers by then.
        options = {"access_log": None, "keepalive_timeout": self.config.web_idle_timeout}
        self.runner = web.AppRunner(app, **options)
        await self.runner.setup()
        cap = ConnectionCap(self.runner.server, connection_limit(self.config.web_max_connections), **options)
        self.server = await asyncio.get_running_loop().create_server(
            cap, self.config.web_host, self.config.web_port, backlog=BACKLOG, reuse_address=True
        )
        log.info("web page and API at %s", self.address)
        print(f"Try it in a browser: {self.address}", flush=True)

    async def stop(self) -> None:
        if self.server:
            self.server.close()
        if self.runner:
            await self.runner.cleanup()

    @staticmethod
    def describe(error: BaseException) -> str:
        return f"the web page could not start ({type(error).__name__}: {error})"

    @staticmethod
    def retryable(error: BaseException) -> bool:
        """A port in use or a bad address stays so: say it once."""
        return False
