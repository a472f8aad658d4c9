"""bot/telegram/lessons.py: an admin teaches a label in the chat (/learn, photos, /done), in private or in a group."""

from __future__ import annotations

from tests.support.fake_telegram import FakeTelegram
from tests.support.photos import tablecloth


async def test_admin_teaches_a_label_in_the_chat(
    telegram_app, telegram_fake: FakeTelegram, flower_photos, pipeline
) -> None:
    await telegram_fake.push(telegram_fake.command_message(18, "/learn checked tablecloth"))
    assert "only the bot's admins" in (await telegram_fake.replies(18))[0]["text"]

    await telegram_fake.push(telegram_fake.command_message(42, "/learn Checked Tablecloth #picnic #gingham"))
    assert "Teaching “checked tablecloth”" in (await telegram_fake.replies(42))[0]["text"]
    await telegram_fake.push(telegram_fake.photo_message(18, tablecloth(50)))
    assert "checked tablecloth" not in (await telegram_fake.replies(18, 2))[1]["text"], (
        "not taught yet, and 18 is no admin"
    )
    for seed in range(3):
        await telegram_fake.push(telegram_fake.photo_message(42, tablecloth(seed)))
    await telegram_fake.push(telegram_fake.document_message(42, b"%PDF-1.4 not a photo", "image/png", "scan.png"))
    for seed in range(3, 5):
        await telegram_fake.push(telegram_fake.photo_message(42, tablecloth(seed)))
    progress = [m["text"] for m in (await telegram_fake.replies(42, 7))[1:]]
    assert progress[0].startswith("“checked tablecloth”: 1 photo — 4 more to go")
    assert progress[3].startswith("Not added: That looks like a PDF document")
    assert progress[5].startswith("“checked tablecloth”: 5 photos.")
    await telegram_fake.push(telegram_fake.command_message(42, "/done"))
    done = (await telegram_fake.replies(42, 8))[7]["text"]
    assert "has 5 photos" in done and "recognise it from now on" in done and "1 file(s) could not be used" in done

    await telegram_fake.push(telegram_fake.photo_message(18, tablecloth(100)))
    answer = (await telegram_fake.replies(18, 3))[2]["text"]
    assert "checked tablecloth" in answer.splitlines()[0]
    assert "#picnic" in answer and "#gingham" in answer
    name, data = next(iter(flower_photos.items()))
    await telegram_fake.push(telegram_fake.photo_message(42, data))
    assert name in (await telegram_fake.replies(42, 9))[8]["text"].splitlines()[0], (
        "after /done, photos are answered again"
    )

    await telegram_fake.push(telegram_fake.command_message(18, "/labels"))
    assert "• checked tablecloth: 5 photos #picnic #gingham" in (await telegram_fake.replies(18, 4))[3]["text"]
    await telegram_fake.push(telegram_fake.command_message(18, "/forget checked tablecloth"))
    assert "only the bot's admins" in (await telegram_fake.replies(18, 5))[4]["text"]
    await telegram_fake.push(telegram_fake.command_message(42, "/forget checked tablecloth"))
    assert "Forgot “checked tablecloth”" in (await telegram_fake.replies(42, 10))[9]["text"]
    await telegram_fake.push(telegram_fake.photo_message(18, tablecloth(100)))
    assert "checked tablecloth" not in (await telegram_fake.replies(18, 6))[5]["text"]
    assert not telegram_fake.rejected


async def test_done_without_a_lesson_and_too_few_photos(telegram_app, telegram_fake: FakeTelegram) -> None:
    await telegram_fake.push(telegram_fake.command_message(42, "/done"))
    assert "Nothing is being taught" in (await telegram_fake.replies(42))[0]["text"]
    await telegram_fake.push(telegram_fake.command_message(42, "/learn"))
    assert "Name the label" in (await telegram_fake.replies(42, 2))[1]["text"]
    await telegram_fake.push(telegram_fake.command_message(42, "/learn mug"))
    await telegram_fake.push(telegram_fake.photo_message(42, tablecloth(0)))
    await telegram_fake.replies(42, 4)
    await telegram_fake.push(telegram_fake.command_message(42, "/done"))
    assert "needs at least 5 photos" in (await telegram_fake.replies(42, 5))[4]["text"]


async def test_learn_in_a_group_explains_how_photos_reach_the_bot(telegram_app, telegram_fake: FakeTelegram) -> None:
    await telegram_fake.push(telegram_fake.command_message(42, "/learn mug", chat_id=-500, chat_type="group"))
    text = (await telegram_fake.replies(-500))[0]["text"]
    assert f"add @{telegram_app.bot.username} to each caption, or teach me in a private chat" in text
    await telegram_fake.push(telegram_fake.photo_message(42, tablecloth(0), chat_id=-500, chat_type="group"))
    assert "“mug”: 1 photo" in (await telegram_fake.replies(-500, 2))[1]["text"], (
        "the admin's lesson photos need no mention"
    )
