"""How replies read: the words every platform shares (bot/render.py), and each platform's own markup."""

from __future__ import annotations

import pytest

from bot.discord.render import fit
from bot.render import MAX_TAG_COUNT, note_lines, tag_count, too_big, too_big_text
from bot.telegram.render import keyboard
from trends.composer import ChosenTag, ComposedTags

MB = 1024 * 1024


def test_too_big_names_a_size_above_the_limit_it_names() -> None:
    """Just over 20 MB must not read "20.0 MB; the limit is 20 MB": the size is rounded up, the limit down."""
    assert too_big(20 * MB, 20 * MB) is None and too_big(None, 20 * MB) is None
    assert too_big(20 * MB + 1, 20 * MB) == "That file is too big (20.1 MB; the limit is 20 MB)."
    assert too_big_text(None, int(19.99 * MB)) == "That file is too big (the limit is 19.9 MB)."


@pytest.mark.parametrize(
    ("given", "count"),
    [
        ("8", 8),
        (1, 1),
        (MAX_TAG_COUNT, MAX_TAG_COUNT),
        ("0", None),
        (MAX_TAG_COUNT + 1, None),
        ("+8", None),
        ("²", None),
        ("٣", None),
        ("9" * 5000, None),
        (None, None),
    ],
)
def test_a_tag_count_is_a_plain_number_in_range(given: str | int | None, count: int | None) -> None:
    assert tag_count(given) == count


def test_the_note_under_the_tags_is_their_counts_or_their_tiers() -> None:
    """Where a count is unknown (no Instagram session) the line names the tier and says nothing of a count."""
    known, unknown = (
        ChosenTag("daisy", "popular", 4_200_000, "daisy", 1.0),
        ChosenTag("daisies", "niche", None, "x", 1.0),
    )
    tags = ComposedTags((known, unknown), ())
    assert note_lines(tags, with_counts=True) == ["#daisy — 4.2M posts, popular", "#daisies — niche"]
    assert len(note_lines(tags, with_counts=False)) == 1


def test_copy_button_is_left_out_when_the_line_is_too_long() -> None:

    long_tags = ComposedTags(
        tuple(ChosenTag(f"verylonghashtag{i:02d}", "niche", None, "x", 1.0) for i in range(20)), ()
    )
    short_tags = ComposedTags(long_tags.tags[:3], ())
    assert len(long_tags.line) > 256
    long_row = keyboard(long_tags, "1").inline_keyboard[0]
    assert [b.text for b in long_row] == ["➕ More tags", "📊 With counts"]
    assert keyboard(short_tags, "1").inline_keyboard[0][0].copy_text.text == short_tags.line


def test_long_answers_are_split_between_parts_and_cut_with_their_block_closed() -> None:
    """Four answers of 30 tags with counts pass Discord's 2000 characters: one message each, none cut open."""

    tags = " ".join(f"#verylonghashtag{i:02d}" for i in range(30))
    counts = "\n".join(f"#verylonghashtag{i:02d} — 1.2M posts, popular" for i in range(30))
    part = f"**photo.jpg**\n📷 **a cat**\n```\n{tags}\n```\n{counts}"
    assert len(part) < 2000 < 2 * len(part)
    messages = fit([part] * 4 + ["I answer the first 4 images of a message; 2 more skipped."])
    assert messages[:3] == [part] * 3 and messages[3].startswith(part) and messages[3].endswith("skipped.")
    (cut,) = fit(["📷 **a cat**\n```\n" + "\n".join([tags] * 20) + "\n```\nnote"])
    assert len(cut) <= 2000 and cut.endswith("\n```") and cut.count("```") == 2
