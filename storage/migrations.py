"""Numbered schema migrations: entry k upgrades a database from version k to k+1.

Never edit a released entry; append a new one. Write them in the SQL SQLite and
PostgreSQL share, with SQLite's types (INTEGER, REAL, TEXT, BLOB): the
PostgreSQL backend widens those to its own. Tests upgrade an older database on
both engines.
"""

MIGRATIONS: list[str] = [
    # 1: request log, trend facts, settings, blocklist
    """
    CREATE TABLE requests (
        id INTEGER PRIMARY KEY,
        created_at REAL NOT NULL,
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        image_sha256 TEXT,
        labels TEXT NOT NULL DEFAULT '[]',
        hashtags TEXT NOT NULL DEFAULT '[]',
        latency_ms TEXT NOT NULL DEFAULT '{}',
        total_ms REAL,
        model_version TEXT,
        outcome TEXT NOT NULL,
        error TEXT
    );
    CREATE INDEX requests_created_at ON requests (created_at);
    CREATE TABLE hashtags (
        tag TEXT PRIMARY KEY,
        media_count INTEGER,
        fetched_at REAL,
        source TEXT NOT NULL,
        last_error TEXT,
        error_at REAL
    );
    CREATE TABLE searches (
        query TEXT PRIMARY KEY,
        tags TEXT NOT NULL,
        fetched_at REAL,
        last_error TEXT,
        error_at REAL
    );
    CREATE TABLE chat_settings (
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        tag_count INTEGER,
        show_counts INTEGER,
        PRIMARY KEY (platform, chat_id)
    );
    CREATE TABLE blocklist (
        tag TEXT PRIMARY KEY,
        reason TEXT NOT NULL DEFAULT '',
        added_at REAL NOT NULL
    );
    CREATE TABLE instagram_health (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        last_success REAL,
        last_failure REAL,
        last_error TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        pause_until REAL
    );
    INSERT INTO instagram_health (id) VALUES (1)
    """,
    # 2: labels waiting for their first Instagram lookup survive a restart
    """
    CREATE TABLE pending_queries (
        query TEXT PRIMARY KEY,
        queued_at REAL NOT NULL
    )
    """,
    # 3: classes taught in the chat: their tags and each photo's embeddings (never the photo)
    """
    CREATE TABLE taught_labels (
        scope TEXT NOT NULL,
        name TEXT NOT NULL,
        tags TEXT NOT NULL DEFAULT '[]',
        created_by TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (scope, name)
    );
    CREATE TABLE taught_examples (
        id INTEGER PRIMARY KEY,
        scope TEXT NOT NULL,
        label TEXT NOT NULL,
        backbone TEXT NOT NULL,
        views INTEGER NOT NULL,
        embedding BLOB NOT NULL,
        added_by TEXT NOT NULL,
        added_at REAL NOT NULL,
        FOREIGN KEY (scope, label) REFERENCES taught_labels (scope, name) ON DELETE CASCADE
    );
    CREATE INDEX taught_examples_label ON taught_examples (scope, label)
    """,
    # 4: whether each chat adapter is receiving, for --check and the admins (pid: which process said so)
    """
    CREATE TABLE adapters (
        name TEXT PRIMARY KEY,
        receiving INTEGER NOT NULL,
        detail TEXT NOT NULL,
        pid INTEGER NOT NULL,
        at REAL NOT NULL
    )
    """,
    # 5: request rows lost while the database could not be written (a full disk), counted when it could again
    """
    CREATE TABLE log_gaps (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        dropped INTEGER NOT NULL
    )
    """,
    # 6: chat updates as received, until answered: replayed after a crash, and never handled twice
    """
    CREATE TABLE inbox (
        bot INTEGER NOT NULL,
        update_id INTEGER NOT NULL,
        received_at REAL NOT NULL,
        payload TEXT,
        answered_at REAL,
        PRIMARY KEY (bot, update_id)
    )
    """,
    # 7: a lesson in progress (/learn … /done), so whichever bot process gets the admin's next photo knows it
    """
    CREATE TABLE lessons (
        platform TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        label TEXT NOT NULL,
        user_id TEXT NOT NULL,
        last REAL NOT NULL,
        rejected INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (platform, chat_id)
    )
    """,
    # 8: the processes sharing the database (a lease each), whose adapters report per process, and which
    # process took each chat update (another answers it if that one dies)
    """
    CREATE TABLE processes (
        id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at REAL NOT NULL,
        seen_at REAL NOT NULL
    );
    DROP TABLE adapters;
    CREATE TABLE adapters (
        process TEXT NOT NULL,
        name TEXT NOT NULL,
        receiving INTEGER NOT NULL,
        detail TEXT NOT NULL,
        at REAL NOT NULL,
        PRIMARY KEY (process, name)
    );
    ALTER TABLE inbox ADD COLUMN process TEXT
    """,
    # 9: a counter every change to the taught labels bumps, which each process polls to refit its heads
    """
    CREATE TABLE taught_version (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        version INTEGER NOT NULL
    );
    INSERT INTO taught_version (id, version) VALUES (1, 0)
    """,
    # 10: answers whose buttons can still ask for more, found by whichever process the tap reaches
    """
    CREATE TABLE shown_answers (
        key TEXT PRIMARY KEY,
        scene TEXT NOT NULL,
        count INTEGER NOT NULL,
        model_version TEXT NOT NULL,
        shown_from INTEGER NOT NULL DEFAULT 0,
        at REAL NOT NULL
    );
    CREATE INDEX shown_answers_at ON shown_answers (at)
    """,
    # 11: an album (several photos of one post) is answered and logged once, with its number of photos
    """
    ALTER TABLE requests ADD COLUMN photos INTEGER NOT NULL DEFAULT 1
    """,
    # 12: secrets the installation makes for itself (the key of the web side's client ids)
    """
    CREATE TABLE installation_secrets (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )
    """,
]
