"""Telegram: python-telegram-bot receives photos and commands, the shared pipeline answers them."""
