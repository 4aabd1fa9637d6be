-- v3: recent run times per backend, so the ETA survives a restart.
CREATE TABLE run_stats (
    id          INTEGER PRIMARY KEY,
    backend     TEXT    NOT NULL,
    cost        INTEGER NOT NULL CHECK (cost > 0),
    seconds     REAL    NOT NULL CHECK (seconds >= 0),
    finished_at REAL    NOT NULL,
    job_id      INTEGER REFERENCES jobs (id) ON DELETE SET NULL
);
CREATE INDEX run_stats_backend ON run_stats (backend, id);
CREATE INDEX run_stats_job ON run_stats (job_id);
