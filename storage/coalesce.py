"""Writes made for each reply, carried together: one statement for all the items that arrive while
the previous one runs.

Alone, an item is written at once, as before; under load a hundred replies' marks go in a handful of
statements instead of a hundred, each a trip to the database thread (or server) and back. Every
caller still waits for its own item's write and sees its error, so what a write guarantees
(an update marked answered only once it was) is kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Coalescer(Generic[T]):
    """Items for `write`, which takes a list of them (`most` at a time) and writes them in one statement.

    `most` keeps a statement's parameters within what both engines take (SQLite's 32,766).
    """

    def __init__(self, write: Callable[[list[T]], Awaitable[None]], most: int = 500) -> None:
        self._write, self._most = write, most
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._writing: asyncio.Task | None = None

    async def add(self, item: T) -> None:
        """Until `item` is written with whatever else was waiting; its batch's error, if any."""
        done = asyncio.get_running_loop().create_future()
        self._pending.append((item, done))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_pending())
        await done

    async def _write_pending(self) -> None:
        batch: list[tuple[T, asyncio.Future[None]]] = []
        try:
            while self._pending:
                batch, self._pending = self._pending[: self._most], self._pending[self._most :]
                try:
                    await self._write([item for item, _ in batch])
                except Exception as error:  # noqa: BLE001 — each waiting caller gets its batch's error
                    _settle(batch, error)
                else:
                    _settle(batch, None)
        finally:  # cancelled (the process stopping): nobody is left waiting for a write that will not come
            for _, done in [*batch, *self._pending]:
                done.cancel()
            self._pending = []


def _settle(batch: list[tuple[T, asyncio.Future[None]]], error: Exception | None) -> None:
    for _, done in batch:
        if done.done():  # its caller was cancelled; the item was written all the same
            continue
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
