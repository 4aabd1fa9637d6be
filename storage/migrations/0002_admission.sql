-- v2: what admission needs (rate buckets, guild settings, queue switches) and the audit log.
CREATE TABLE rate_buckets (
    guild_id   INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    tokens     REAL    NOT NULL,
    updated_at REAL    NOT NULL,
    capacity   REAL    NOT NULL,
    per_second REAL    NOT NULL,
    version    INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (guild_id, user_id)
) WITHOUT ROWID;

CREATE TABLE guild_settings (
    guild_id         INTEGER PRIMARY KEY,
    paused           INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    allowed_channels TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(allowed_channels)),
    blocked_words    TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(blocked_words)),
    limits           TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(limits)),
    role_limits      TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(role_limits)),
    updated_at       REAL,
    updated_by       INTEGER
);
-- The pick skips paused guilds: list them without reading every guild's row.
CREATE INDEX guild_settings_paused ON guild_settings (guild_id) WHERE paused = 1;

CREATE TABLE queue_control (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    draining   INTEGER NOT NULL DEFAULT 0 CHECK (draining IN (0, 1)),
    updated_at REAL,
    updated_by INTEGER
);
INSERT INTO queue_control (id, draining) VALUES (1, 0);

CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       REAL    NOT NULL,
    guild_id INTEGER,
    actor_id INTEGER NOT NULL,
    action   TEXT    NOT NULL,
    target   TEXT,
    details  TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(details))
);
CREATE INDEX audit_log_guild ON audit_log (guild_id, id);
