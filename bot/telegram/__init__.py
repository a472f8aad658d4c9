"""Telegram: python-telegram-bot receives photos and commands, the shared pipeline answers them."""

# The platform's name in the log, the request log, chat settings and lessons.
PLATFORM = "telegram"
