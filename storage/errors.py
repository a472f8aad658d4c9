"""The database's errors, the same on either engine: what callers catch, without importing an engine."""


class SchemaTooNew(Exception):
    """The database was written by a newer version of the bot; we refuse to touch it."""


class DatabaseUnavailable(Exception):
    """The database cannot be opened: a directory without permission, a full disk, a server that does not answer."""


class DatabaseError(Exception):
    """A statement failed (a full disk, a locked file, a lost server); the driver's error is the cause."""
