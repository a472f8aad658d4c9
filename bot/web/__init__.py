"""The web: the try-it page, the JSON API and the admins' dashboard on aiohttp."""
