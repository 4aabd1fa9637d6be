-- v4: the queue length, kept by triggers in the same transaction as every change of a job's
-- state, so admission reads it in O(1) instead of counting the queue on every request.
CREATE TABLE queue_length (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    queued INTEGER NOT NULL
);
INSERT INTO queue_length (id, queued) SELECT 1, count(*) FROM jobs WHERE state = 'queued';

CREATE TRIGGER jobs_queued_insert AFTER INSERT ON jobs WHEN NEW.state = 'queued'
BEGIN
    UPDATE queue_length SET queued = queued + 1 WHERE id = 1;
END;

CREATE TRIGGER jobs_queued_enter AFTER UPDATE OF state ON jobs
WHEN OLD.state != 'queued' AND NEW.state = 'queued'
BEGIN
    UPDATE queue_length SET queued = queued + 1 WHERE id = 1;
END;

CREATE TRIGGER jobs_queued_leave AFTER UPDATE OF state ON jobs
WHEN OLD.state = 'queued' AND NEW.state != 'queued'
BEGIN
    UPDATE queue_length SET queued = queued - 1 WHERE id = 1;
END;

CREATE TRIGGER jobs_queued_delete AFTER DELETE ON jobs WHEN OLD.state = 'queued'
BEGIN
    UPDATE queue_length SET queued = queued - 1 WHERE id = 1;
END;
