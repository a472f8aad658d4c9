"""bot/config.py: every setting from the environment and `.env`, each bad value named by its variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"FLOOD_PHOTOS": "many"}, "FLOOD_PHOTOS"),
        ({"DEFAULT_TAG_COUNT": "50"}, "DEFAULT_TAG_COUNT"),
        ({"ADMIN_IDS": "12,abc"}, "ADMIN_IDS"),
        ({"MODEL_DIR": "/nonexistent"}, "MODEL_DIR"),
        ({"TELEGRAM_WEBHOOK_URL": "http://plain.example"}, "TELEGRAM_WEBHOOK_URL"),
        ({"CONFIDENCE_THRESHOLD": "2"}, "CONFIDENCE_THRESHOLD"),
        ({"TELEGRAM_CONCURRENT_UPDATES": "0"}, "TELEGRAM_CONCURRENT_UPDATES"),
        ({"TELEGRAM_ALBUM_WAIT_SECONDS": "0"}, "TELEGRAM_ALBUM_WAIT_SECONDS"),
        ({"TELEGRAM_POLL_TIMEOUT_SECONDS": "60"}, "TELEGRAM_POLL_TIMEOUT_SECONDS"),
        ({"DATABASE_URL": "mysql://db.example/bot"}, "DATABASE_URL"),
        ({"DISCORD_SHARD_IDS": "0,1"}, "DISCORD_SHARD_IDS"),
        ({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "2"}, "DISCORD_SHARD_IDS"),
    ],
)
def test_invalid_values_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_config(env, env_file=None)


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("ADMIN_IDS=1,2\nDEFAULT_TAG_COUNT=7\n")
    config = load_config({"DEFAULT_TAG_COUNT": "9"}, env_file=env_file)
    assert config.admin_ids == {1, 2} and config.default_tag_count == 9
