"""Discord: discord.py's slash commands and message menu, answered by the shared pipeline."""
