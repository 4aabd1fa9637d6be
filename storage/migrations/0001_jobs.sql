-- v1: the job queue.
-- AUTOINCREMENT: ids are never reused, because buttons and status cards carry job ids.
CREATE TABLE jobs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id          INTEGER NOT NULL,
    channel_id        INTEGER NOT NULL,
    user_id           INTEGER NOT NULL,
    locale            TEXT    NOT NULL DEFAULT 'en',
    template          TEXT    NOT NULL,
    params            TEXT    NOT NULL CHECK (json_valid(params)),
    cost              INTEGER NOT NULL CHECK (cost >= 0),
    priority_class    INTEGER NOT NULL DEFAULT 0,
    round             INTEGER NOT NULL,
    state             TEXT    NOT NULL CHECK (state IN
                          ('queued', 'submitted', 'running', 'fetched',
                           'delivered', 'failed', 'cancelled')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    backend           TEXT,
    prompt_id         TEXT,
    output_path       TEXT,
    status_message_id INTEGER,
    result_message_id INTEGER,
    error_code        TEXT,
    error_text        TEXT,
    cancelled_by      INTEGER,
    created_at        REAL    NOT NULL,
    updated_at        REAL    NOT NULL,
    queued_at         REAL,
    submitted_at      REAL,
    running_at        REAL,
    fetched_at        REAL,
    delivered_at      REAL,
    failed_at         REAL,
    cancelled_at      REAL
);

-- Pick (first row), position (range count + cost sum) and queue length: covering, and only
-- as large as the queue itself, however long the history grows.
CREATE INDEX jobs_queue ON jobs (priority_class, round, id, cost) WHERE state = 'queued';
-- A user's last queued round at enqueue; distinct queued users in the summary.
CREATE INDEX jobs_user_queue ON jobs (user_id, priority_class, round) WHERE state = 'queued';
-- Active-job cap, /queue and /history for one requester, purge.
CREATE INDEX jobs_requester ON jobs (guild_id, user_id, state);
-- Recovery (unfinished jobs), in-flight jobs per backend, summary counts per state.
CREATE INDEX jobs_state ON jobs (state, updated_at);
-- Websocket events and /history entries are matched to jobs by prompt_id.
CREATE UNIQUE INDEX jobs_prompt ON jobs (prompt_id) WHERE prompt_id IS NOT NULL;

-- The fair clock: highest round claimed so far per priority class (see bot/jobs/scheduler.py).
CREATE TABLE fair_clock (
    priority_class INTEGER PRIMARY KEY,
    round          INTEGER NOT NULL
);
