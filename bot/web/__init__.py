"""The web: the try-it page, the JSON API and the admins' dashboard on aiohttp."""

# The platform's name in the log, the request log and chat settings.
PLATFORM = "web"
