"""The Telegram adapter with the real python-telegram-bot against a local fake Bot API server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.support.fake_telegram import FakeTelegram
from tests.support.pipelines import gate_classifier, outcomes


async def test_photo_gets_subject_and_copyable_hashtags(
    telegram_app, telegram_fake: FakeTelegram, flower_photos, pipeline
) -> None:
    name, data = next(iter(flower_photos.items()))
    await telegram_fake.push(telegram_fake.photo_message(7, data))
    (answer,) = await telegram_fake.replies(7)
    assert name in answer["text"].splitlines()[0]
    tag_line = answer["text"].splitlines()[1]
    tags = tag_line.split()
    assert 1 <= len(tags) <= 5 and all(t.startswith("#") for t in tags)
    assert f"<code>{tag_line}</code>" in answer["raw_text"]
    buttons = answer["reply_markup"]["inline_keyboard"][0]
    assert buttons[0]["copy_text"]["text"] == tag_line
    assert [b["text"] for b in buttons[1:]] == ["➕ More tags", "📊 With counts"]
    assert not telegram_fake.rejected
    file_ids = [params["file_id"] for method, params in telegram_fake.calls if method == "getFile"]
    assert file_ids == [telegram_fake.updates[0]["message"]["photo"][1]["file_id"]], "the 320×240 size, not the largest"
    await asyncio.wait_for(pipeline.wait_recorded(1), 10)
    rows = await pipeline.db.execute_fetchall("SELECT platform, outcome, image_sha256, latency_ms FROM requests")
    assert rows[0][0] == "telegram" and rows[0][1] == "ok" and len(rows[0][2]) == 64
    assert {"download", "decode", "inference", "compose", "send"} <= set(json.loads(rows[0][3]))


async def test_a_portrait_gets_people_tags_and_no_flower(
    telegram_app, telegram_fake: FakeTelegram, everyday_photos
) -> None:
    await telegram_fake.push(telegram_fake.photo_message(8, everyday_photos["portrait"]))
    (answer,) = await telegram_fake.replies(8)
    subject, tag_line = answer["text"].splitlines()[:2]
    assert subject.startswith("📷 a portrait")
    assert "#portrait" in tag_line and not {"#rose", "#tulip", "#daisy", "#flowers"} & set(tag_line.split())


async def test_a_failed_send_is_logged_once_as_send_failed(
    telegram_app, telegram_fake: FakeTelegram, flower_photos, pipeline
) -> None:
    telegram_fake.inject_error("sendMessage", 400, "Bad Request: chat not found")
    await telegram_fake.push(telegram_fake.photo_message(9, flower_photos["daisy"]))
    (apology,) = await telegram_fake.replies(9)
    assert apology["text"].startswith("Sorry, something went wrong")
    assert await outcomes(pipeline, 1) == [("send_failed", "BadRequest")]


async def test_a_classifier_failure_is_logged_once_as_an_error(
    telegram_app, telegram_fake: FakeTelegram, flower_photos, pipeline
):
    await pipeline.classifier.aclose()  # its inference threads are gone: the next photo cannot be classified
    await telegram_fake.push(telegram_fake.photo_message(10, flower_photos["daisy"]))
    (apology,) = await telegram_fake.replies(10)
    assert apology["text"].startswith("Sorry, something went wrong")
    assert await outcomes(pipeline, 1) == [("error", "inference: RuntimeError")]


async def test_typing_is_shown_while_a_slow_answer_is_prepared(
    telegram_app, telegram_fake: FakeTelegram, flower_photos, pipeline
):
    name, data = next(iter(flower_photos.items()))
    release = gate_classifier(pipeline)
    await telegram_fake.push(telegram_fake.photo_message(6, data))
    await telegram_fake.wait_for(lambda: any(m == "sendChatAction" for m, _ in telegram_fake.calls))
    assert not telegram_fake.replies_to(6)
    release.set()
    (answer,) = await telegram_fake.replies(6)
    assert name in answer["text"]


async def test_image_sent_as_file_is_answered(telegram_app, telegram_fake: FakeTelegram, flower_photos) -> None:
    name, data = next(iter(flower_photos.items()))
    await telegram_fake.push(telegram_fake.document_message(8, data, "image/jpeg", "photo.jpg"))
    (answer,) = await telegram_fake.replies(8)
    assert name in answer["text"]


async def test_an_album_gets_one_answer_and_one_log_row(
    telegram_app, telegram_fake: FakeTelegram, flower_photos, pipeline
) -> None:
    photos = list(flower_photos.items())[:3]
    for _, data in photos:
        await telegram_fake.push(telegram_fake.photo_message(9, data, media_group_id="album1"))
    huge = telegram_fake.document_message(
        9, b"x", "image/jpeg", "huge.jpg", size=25 * 1024 * 1024, media_group_id="album1"
    )
    await telegram_fake.push(huge)
    too_big, answer = await telegram_fake.replies(9, 2)
    await asyncio.wait_for(pipeline.wait_recorded(1), 10)
    assert len(telegram_fake.replies_to(9)) == 2, "one answer for the album, once its photos have come"
    assert "too big" in too_big["text"], "the photo too big to fetch is refused on its own"
    subject = answer["text"].splitlines()[0]
    assert sum(name in subject for name, _ in photos) >= 2, subject
    assert "One set of tags for all 3 photos." in answer["text"]
    assert len([m for m, _ in telegram_fake.calls if m == "getFile"]) == 3
    rows = await pipeline.db.execute_fetchall("SELECT photos, outcome, image_sha256 FROM requests")
    assert len(rows) == 1 and rows[0][:2] == (3, "ok") and len(rows[0][2].split(",")) == 3


def known_counts(text: str) -> list[str]:
    """The reply's per-tag lines ('#daisy — popular'): with no Instagram session, never a '?' count."""
    lines = [line for line in text.splitlines() if line.startswith("#") and " — " in line]
    assert lines and not any("?" in line or "posts" in line for line in lines), text
    return lines


async def test_more_tags_and_counts_buttons(telegram_app, telegram_fake: FakeTelegram, flower_photos) -> None:
    _, data = next(iter(flower_photos.items()))
    await telegram_fake.push(telegram_fake.photo_message(10, data))
    (answer,) = await telegram_fake.replies(10)
    first = answer["text"].splitlines()[1].split()
    more = answer["reply_markup"]["inline_keyboard"][0][1]["callback_data"]
    await telegram_fake.push(callback=telegram_fake.callback(10, answer, more))
    await telegram_fake.wait_for(lambda: len(telegram_fake.edits) == 1)
    second = telegram_fake.edits[0]["text"].split("<code>")[1].split("</code>")[0].split()
    assert second and not set(second) & set(first), "more tags shows the next best set"
    counts = answer["reply_markup"]["inline_keyboard"][0][2]["callback_data"]
    await telegram_fake.push(callback=telegram_fake.callback(10, answer, counts))
    await telegram_fake.wait_for(lambda: len(telegram_fake.edits) == 2)
    assert len(known_counts(telegram_fake.edits[1]["text"])) == len(second)
    assert not telegram_fake.rejected


async def test_expired_button_is_explained(telegram_app, telegram_fake: FakeTelegram) -> None:
    message = telegram_fake.message(11, text="old")
    await telegram_fake.push(callback=telegram_fake.callback(11, message, "more:999999"))
    await telegram_fake.wait_for(lambda: any(m == "answerCallbackQuery" for m, _ in telegram_fake.calls))
    params = next(p for m, p in telegram_fake.calls if m == "answerCallbackQuery")
    assert "too old" in params["text"]


@pytest.mark.parametrize(
    ("command", "expected"),
    [("/start", "Send me a photo"), ("/help", "Privacy"), ("/about", "daisy"), ("/hashtags", "Reply to a photo")],
)
async def test_commands(telegram_app, telegram_fake: FakeTelegram, command: str, expected: str) -> None:
    await telegram_fake.push(telegram_fake.command_message(12, command))
    (answer,) = await telegram_fake.replies(12)
    assert expected in answer["text"]


async def test_commands_are_registered(telegram_app, telegram_fake: FakeTelegram) -> None:
    assert {c["command"] for c in telegram_fake.commands} == {
        *("start", "help", "hashtags", "settings", "about", "stats"),
        *("labels", "learn", "done", "forget"),
    }


async def test_hashtags_as_reply_to_a_photo(telegram_app, telegram_fake: FakeTelegram, flower_photos) -> None:
    name, data = next(iter(flower_photos.items()))
    photo = telegram_fake.photo_message(13, data, chat_id=-100, chat_type="group")
    await telegram_fake.push(photo)
    await telegram_fake.push(
        telegram_fake.command_message(13, "/hashtags", chat_id=-100, chat_type="group", reply_to_message=photo)
    )
    (answer,) = await telegram_fake.replies(-100)
    assert name in answer["text"], "the group photo alone got no answer; the /hashtags reply did"


async def test_group_photo_with_mention_is_answered(telegram_app, telegram_fake: FakeTelegram, flower_photos) -> None:
    _, data = next(iter(flower_photos.items()))
    await telegram_fake.push(
        telegram_fake.photo_message(14, data, chat_id=-200, chat_type="group", caption="tags? @hashtag_test_bot")
    )
    assert len(await telegram_fake.replies(-200)) == 1


async def test_settings_are_stored_per_chat_and_used(
    telegram_app, telegram_fake: FakeTelegram, flower_photos, pipeline
) -> None:
    await telegram_fake.push(telegram_fake.command_message(15, "/settings 8 counts on"))
    (answer,) = await telegram_fake.replies(15)
    assert "Tags per photo: 8" in answer["text"] and "Post counts: on" in answer["text"]
    _, data = next(iter(flower_photos.items()))
    await telegram_fake.push(telegram_fake.photo_message(15, data))
    answers = await telegram_fake.replies(15, 2)
    assert len(answers[1]["text"].splitlines()[1].split()) == 8
    assert len(known_counts(answers[1]["text"])) == 8
    await telegram_fake.push(telegram_fake.command_message(16, "/settings"))
    assert "Tags per photo: 5" in (await telegram_fake.replies(16))[0]["text"], "another chat keeps the default"


async def test_group_settings_need_a_chat_admin(telegram_app, telegram_fake: FakeTelegram) -> None:
    await telegram_fake.push(telegram_fake.command_message(17, "/settings 3", chat_id=-300, chat_type="group"))
    assert "Only the group's admins" in (await telegram_fake.replies(-300))[0]["text"]
    telegram_fake.chat_admins.add(17)
    await telegram_fake.push(telegram_fake.command_message(17, "/settings 3", chat_id=-300, chat_type="group"))
    assert "Tags per photo: 3" in (await telegram_fake.replies(-300, 2))[1]["text"]


async def test_stats_for_admins_only(telegram_app, telegram_fake: FakeTelegram, flower_photos, pipeline) -> None:
    await telegram_fake.push(telegram_fake.command_message(18, "/stats"))
    assert "for the bot's admins" in (await telegram_fake.replies(18))[0]["text"]
    _, data = next(iter(flower_photos.items()))
    await telegram_fake.push(telegram_fake.photo_message(42, data))
    await telegram_fake.replies(42)
    await asyncio.wait_for(pipeline.wait_recorded(1), 10)
    await telegram_fake.push(telegram_fake.command_message(42, "/stats"))
    text = (await telegram_fake.replies(42, 2))[1]["text"]
    assert "telegram: 1" in text and "Instagram: ok" in text


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("sticker", "only read photos"),
        ("pdf", "only read photos"),
        ("corrupt", "damaged"),
        ("text-as-image", "not an image"),
    ],
)
async def test_bad_input_gets_a_friendly_explanation(
    telegram_app, telegram_fake: FakeTelegram, flower_photos, kind, expected
) -> None:
    if kind == "sticker":
        sticker = {
            **telegram_fake.add_file(b"x"),
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
        }
        message = telegram_fake.message(19, sticker=sticker)
    elif kind == "pdf":
        message = telegram_fake.document_message(19, b"%PDF-1.4", "application/pdf", "menu.pdf")
    elif kind == "corrupt":
        truncated = flower_photos["daisy"][: len(flower_photos["daisy"]) // 3]
        message = telegram_fake.document_message(19, truncated, "image/jpeg", "broken.jpg")
    else:
        message = telegram_fake.document_message(19, b"hello world" * 20, "image/png", "fake.png")
    await telegram_fake.push(message)
    (answer,) = await telegram_fake.replies(19)
    assert expected in answer["text"]


async def test_oversized_file_is_refused_before_download(
    telegram_app, telegram_fake: FakeTelegram, jpeg: bytes
) -> None:
    await telegram_fake.push(telegram_fake.document_message(20, jpeg, "image/jpeg", "huge.jpg", size=30 * 1024 * 1024))
    (answer,) = await telegram_fake.replies(20)
    assert "too big" in answer["text"]
    assert not any(method == "getFile" for method, _ in telegram_fake.calls)


async def test_flood_limit_answers_politely(telegram_app, telegram_fake: FakeTelegram, jpeg: bytes) -> None:
    for _ in range(6):
        await telegram_fake.push(telegram_fake.photo_message(21, jpeg))
    answers = await telegram_fake.replies(21, 6)
    assert sum("lot of photos" in a["text"] for a in answers) == 1
    assert sum("#" in a["text"] for a in answers) == 5


async def test_fifty_users_at_once_are_all_answered(telegram_app, telegram_fake: FakeTelegram, flower_photos) -> None:
    photos = list(flower_photos.items())
    for user in range(1000, 1050):
        data = photos[user % len(photos)][1]
        await telegram_fake.push(telegram_fake.photo_message(user, data))
    await telegram_fake.wait_for(
        lambda: sum(1 for m in telegram_fake.sent if m["chat"]["id"] >= 1000) >= 50, timeout=120
    )
    for user in range(1000, 1050):
        answers = telegram_fake.replies_to(user)
        assert len(answers) == 1
        assert photos[user % len(photos)][0] in answers[0]["text"]
    assert not telegram_fake.rejected


async def test_pressing_a_button_twice_is_silent(telegram_app, telegram_fake: FakeTelegram, flower_photos) -> None:
    """Telegram refuses an edit that changes nothing ("message is not modified"); the user sees no apology."""
    _, data = next(iter(flower_photos.items()))
    await telegram_fake.push(telegram_fake.photo_message(23, data))
    (answer,) = await telegram_fake.replies(23)
    counts = answer["reply_markup"]["inline_keyboard"][0][2]["callback_data"]
    for _ in range(2):
        await telegram_fake.push(callback=telegram_fake.callback(23, answer, counts))
    await telegram_fake.wait_for(lambda: any("not modified" in problem for _, problem in telegram_fake.rejected))
    await telegram_fake.push(telegram_fake.command_message(23, "/help"))
    replies = await telegram_fake.replies(23, 2)
    assert len(telegram_fake.edits) == 1 and known_counts(telegram_fake.edits[0]["text"])
    assert [r["text"] for r in replies[1:]] == [replies[1]["text"]] and "Privacy" in replies[1]["text"]


@pytest.mark.parametrize("mime", ["application/octet-stream", None], ids=["octet-stream", "no-type"])
async def test_a_photo_sent_as_a_file_is_judged_by_its_bytes(
    telegram_app, telegram_fake: FakeTelegram, flower_photos, mime
) -> None:
    name, data = next(iter(flower_photos.items()))
    await telegram_fake.push(telegram_fake.document_message(24, data, mime, "IMG_0001"))
    (answer,) = await telegram_fake.replies(24)
    assert name in answer["text"] and "#" in answer["text"]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/settings ²", "I didn't understand “²”"),
        ("/settings " + "9" * 5000, "I didn't understand “999"),
        ("/forget " + "x" * 5000, "There is no taught label “xxx"),
    ],
    ids=["superscript", "long-settings", "long-forget"],
)
async def test_odd_arguments_get_a_clear_answer(
    telegram_app, telegram_fake: FakeTelegram, command: str, expected: str
) -> None:
    await telegram_fake.push(telegram_fake.command_message(42, command))
    (answer,) = await telegram_fake.replies(42)
    assert answer["text"].startswith(expected) and len(answer["text"]) < 300
    assert not telegram_fake.rejected


@pytest.mark.parametrize("announced", [True, False], ids=["size-announced", "size-missing"])
async def test_too_big_says_two_different_numbers(
    telegram_app, telegram_fake: FakeTelegram, jpeg: bytes, announced: bool
) -> None:
    """Just over Telegram's 20 MB: the size shown is above the limit shown, with or without `file_size`."""
    data = jpeg + b"\0" * (20 * 1024 * 1024 + 1 - len(jpeg))
    await telegram_fake.push(telegram_fake.document_message(25, data, "image/jpeg", "big.jpg", announce_size=announced))
    (answer,) = await telegram_fake.replies(25)
    if announced:
        assert "too big (20.1 MB; the limit is 20 MB)" in answer["text"]
    else:
        assert "too big (the limit is 20 MB)" in answer["text"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"text": "hello"}, "Send me a photo"),
        ({"location": {"latitude": 52.5, "longitude": 13.4}}, "Send me a photo"),
        ({"video_note": {"file_id": "v1", "file_unique_id": "uv1", "length": 240, "duration": 3}}, "only read photos"),
    ],
    ids=["text", "location", "video-note"],
)
async def test_anything_else_in_private_gets_one_line(
    telegram_app, telegram_fake: FakeTelegram, fields: dict, expected: str
) -> None:
    await telegram_fake.push(telegram_fake.message(26, **fields))
    (answer,) = await telegram_fake.replies(26)
    assert expected in answer["text"] and len(answer["text"].splitlines()) == 1


async def test_the_request_log_survives_a_full_disk(
    telegram_app, telegram_fake: FakeTelegram, flower_photos, pipeline
) -> None:
    """SQLite may not grow (max_page_count gives the SQLITE_FULL a full disk gives): every photo is still answered,
    rows wait in memory up to their bound and are written when space returns, and the rows lost are counted."""
    import subprocess
    import sys

    from storage.errors import DatabaseError
    from storage.request_log import LoggedRequest, log_request
    from tests.support.bot_process import ROOT, bot_env

    pipeline.writer.capacity = 10
    pages = (await pipeline.db.execute_fetchall("PRAGMA page_count"))[0][0]
    await pipeline.db.execute_fetchall(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(DatabaseError, match="full"):
        while True:  # fill what is left, so the photos' rows find no room
            await log_request(pipeline.db, LoggedRequest("filler", "0", "0", "ok", labels=[("x" * 60, 1.0)]))
    filler = (await pipeline.db.execute_fetchall("SELECT count(*) FROM requests"))[0][0]

    photos = list(flower_photos.values())
    for user in range(2000, 2030):
        await telegram_fake.push(telegram_fake.photo_message(user, photos[user % len(photos)]))
    await telegram_fake.wait_for(lambda: all(telegram_fake.replies_to(user) for user in range(2000, 2030)), timeout=120)
    await asyncio.wait_for(pipeline.wait_recorded(30), 30)
    fitted = (await pipeline.db.execute_fetchall("SELECT count(*) FROM requests"))[0][0] - filler
    waiting, dropped = len(pipeline.writer.waiting), pipeline.writer.dropped
    assert fitted + waiting + dropped == 30 and waiting == 10 and dropped > 0
    await telegram_fake.push(telegram_fake.command_message(42, "/stats"))
    assert (
        f"request log: 10 row(s) waiting for the disk, {dropped} lost" in (await telegram_fake.replies(42))[0]["text"]
    )

    await pipeline.db.execute_fetchall("PRAGMA max_page_count = 1073741823")
    await telegram_fake.push(telegram_fake.photo_message(2030, photos[0]))
    await telegram_fake.replies(2030)
    await asyncio.wait_for(pipeline.wait_recorded(31), 30)
    assert (await pipeline.db.execute_fetchall("SELECT count(*) FROM requests"))[0][0] - filler == fitted + 11
    assert not pipeline.writer.waiting and not pipeline.writer.dropped
    path = next(row[2] for row in await pipeline.db.execute_fetchall("PRAGMA database_list"))
    check = subprocess.run(
        [sys.executable, "-m", "bot", "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        env=bot_env(Path(path).parent, DATABASE_PATH=path),
        cwd=ROOT,
    )
    assert f"request log: {dropped} row(s) lost to a full disk" in check.stdout, check.stdout + check.stderr
