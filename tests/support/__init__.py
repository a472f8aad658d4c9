"""What the tests (and the benchmarks) share: the fakes of Telegram and Discord, bot processes, PostgreSQL schemas,
photos and pipelines. Fixtures that use them are in tests/conftest.py; nothing imports conftest."""
