"""A PostgreSQL server for the tests that run on both engines: `.ci/run` starts one on 127.0.0.1.

Each test gets a schema of its own on the server (dropped afterwards), named in
the URL's `search_path`, so tests never see each other's rows. Without a server
those tests skip and say how to get one.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://hashtag_test:hashtag_test@127.0.0.1:5432/hashtag_test")


@functools.cache
def missing() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when they can."""
    try:
        psycopg.connect(URL, connect_timeout=3).close()
    except psycopg.Error as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"no PostgreSQL server at TEST_POSTGRES_URL ({first}); `.ci/run` installs and starts one"
    return None


@contextmanager
def fresh_schema() -> Iterator[str]:
    """A `postgresql://` URL whose tables land in a new, empty schema; skips without a server."""
    reason = missing()
    if reason:
        pytest.skip(reason)
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(URL, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{URL}{'&' if '?' in URL else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(URL, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
