"""Discord: discord.py's slash commands and message menu, answered by the shared pipeline."""

# The platform's name in the log, the request log and chat settings.
PLATFORM = "discord"
