"""Two `python -m bot` processes on one PostgreSQL database, against the fake Telegram and Discord servers.

The test plays Telegram's load balancer: it posts each webhook update to one
process or the other, and sometimes to both (Telegram redelivers when an answer
to its POST is lost). Discord sends each server's commands to the process
holding that server's shard. Skipped without a PostgreSQL server (`.ci/run`
starts one).
"""

from __future__ import annotations

import signal
from pathlib import Path

import aiohttp
import psycopg

from tests.support import postgres
from tests.support.bot_process import BotProcess, bot_env, free_ports, start_bot, until
from tests.support.fake_discord import FakeDiscord
from tests.support.fake_telegram import FakeTelegram
from tests.support.photos import FIXTURES

FLOWERS = sorted(FIXTURES.glob("*-*.jpg"))
SECRET = "hook-secret-for-tests"
ADMIN = 42


def logged(url: str) -> list[tuple[str, str, str]]:
    """(platform, chat, outcome) of every request row, read as an admin would, with psql's driver."""
    with psycopg.connect(url) as db:
        return db.execute("SELECT platform, chat_id, outcome FROM requests ORDER BY id").fetchall()


async def test_two_processes_share_one_database_and_lose_nothing(
    tmp_path: Path, telegram_fake: FakeTelegram, discord_fake: FakeDiscord
) -> None:
    with postgres.fresh_schema() as url:
        ports = free_ports(2)
        processes: list[BotProcess] = []
        try:
            for shard, port in enumerate(ports):
                folder = tmp_path / f"process{shard}"
                folder.mkdir()
                env = bot_env(
                    folder,
                    telegram_fake,
                    discord_fake,
                    DATABASE_URL=url,
                    TELEGRAM_WEBHOOK_URL="https://bot.example",
                    TELEGRAM_WEBHOOK_PORT=str(port),
                    TELEGRAM_WEBHOOK_SECRET=SECRET,
                    DISCORD_SHARD_COUNT="2",
                    DISCORD_SHARD_IDS=str(shard),
                    ADMIN_IDS=str(ADMIN),
                    FLOOD_PHOTOS="100",
                )
                processes.append(await start_bot(env, folder))
            for process in processes:
                await process.read_until("telegram adapter running (webhook)")
            await until(lambda: sorted(s for s, _ in discord_fake.shards.values()) == [0, 1])

            async with aiohttp.ClientSession() as session:

                async def deliver(to: int, update_id: int, **content: dict) -> int:
                    """POST one update (`message=` or `callback_query=`) to process `to`'s webhook, as Telegram
                    through the load balancer."""
                    body = {"update_id": update_id, **content}
                    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
                    address = f"http://127.0.0.1:{ports[to]}/telegram"
                    async with session.post(address, json=body, headers=headers) as response:
                        return response.status

                # Twenty photos, spread over both processes; four of them delivered to both.
                chats = list(range(5000, 5020))
                for n, chat in enumerate(chats):
                    update = telegram_fake.photo_message(chat, FLOWERS[n % len(FLOWERS)].read_bytes())
                    assert await deliver(n % 2, 1000 + n, message=update) == 200
                    if n % 5 == 0:
                        assert await deliver(1 - n % 2, 1000 + n, message=update) == 200
                await telegram_fake.wait_for(lambda: all(telegram_fake.replies_to(c) for c in chats), timeout=120)

                # A button under an answer from process 0 (chat 5000), tapped through process 1.
                (answer,) = telegram_fake.replies_to(chats[0])
                more = answer["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
                assert await deliver(1, 1900, callback_query=telegram_fake.callback(chats[0], answer, more)) == 200
                await telegram_fake.wait_for(lambda: telegram_fake.edits, timeout=60)
                first = answer["text"].splitlines()[1].split()
                second = telegram_fake.edits[0]["text"].split("<code>")[1].split("</code>")[0].split()
                assert second and not set(second) & set(first), "the next best tags, from the other process"

                # A lesson begun on one process, its photos on both, finished on the other.
                update_id = 2000

                async def admin_says(to: int, message: dict) -> dict:
                    nonlocal update_id
                    before = len(telegram_fake.replies_to(ADMIN))
                    update_id += 1
                    assert await deliver(to, update_id, message=message) == 200
                    await telegram_fake.wait_for(lambda: len(telegram_fake.replies_to(ADMIN)) > before, timeout=60)
                    return telegram_fake.replies_to(ADMIN)[-1]

                started = await admin_says(0, telegram_fake.command_message(ADMIN, "/learn garden bouquet #bouquet"))
                assert "Teaching “garden bouquet”" in started["text"]
                for n, photo in enumerate(FLOWERS):
                    taught = await admin_says(n % 2, telegram_fake.photo_message(ADMIN, photo.read_bytes()))
                    assert f"“garden bouquet”: {n + 1} photo" in taught["text"], taught["text"]
                done = await admin_says(1, telegram_fake.command_message(ADMIN, "/done"))
                assert f"“garden bouquet” has {len(FLOWERS)} photos" in done["text"], done["text"]

                # Discord: each server's command reaches the process holding its shard.
                servers = {0: 5, 1: (1 << 22) + 5}  # shard = (server id >> 22) % 2
                interactions = {}
                for shard, server in servers.items():
                    photo = discord_fake.attachment(FLOWERS[shard].read_bytes())
                    option = {"name": "image", "type": 11, "value": photo["id"]}
                    interactions[shard] = await discord_fake.slash(
                        700 + shard, "hashtags", [option], [photo], guild_id=server
                    )
                await discord_fake.wait_for(
                    lambda: all(discord_fake.responses_to(i)[1] for i in interactions.values()), timeout=60
                )
                assert {shard: discord_fake.delivered[i] for shard, i in interactions.items()} == {0: 0, 1: 1}

                # Process 0 dies (kill -9) holding three photos it took and could not answer yet.
                stuck = [6000, 6001, 6002]
                telegram_fake.hold_after("sendMessage", 0)
                for n, chat in enumerate(stuck):
                    assert (
                        await deliver(0, 3000 + n, message=telegram_fake.photo_message(chat, FLOWERS[n].read_bytes()))
                        == 200
                    )
                await telegram_fake.wait_for(lambda: telegram_fake.holding == len(stuck), timeout=60)
                await processes[0].kill()
                telegram_fake.release()
                await telegram_fake.wait_for(lambda: all(telegram_fake.replies_to(c) for c in stuck), timeout=60)

            processes[1].send_signal(signal.SIGTERM)
            status, output = await processes[1].finish()
        finally:
            for process in processes:
                if process.process.returncode is None:
                    await process.kill()
        assert status == 0, output
        answered = chats + stuck
        assert {chat: len(telegram_fake.replies_to(chat)) for chat in answered} == dict.fromkeys(answered, 1)
        rows = logged(url)
        telegram_rows = sorted(int(chat) for platform, chat, outcome in rows if platform == "telegram")
        assert telegram_rows == sorted(answered), "every photo logged once, those of the killed process too"
        assert {chat for platform, chat, _ in rows if platform == "discord"} == {str(s) for s in servers.values()}
        assert all(outcome == "ok" for _, _, outcome in rows)
