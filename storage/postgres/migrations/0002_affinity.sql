-- v2: warm-model affinity, as SQLite's v5 (storage/migrations/0005_affinity.sql; the rule is
-- JobStore.claim_next in storage/interface.py). passed_over: how many times a claim took a job
-- from behind this one because its backend preferred the template it had loaded.
ALTER TABLE jobs ADD COLUMN passed_over INTEGER NOT NULL DEFAULT 0 CHECK (passed_over >= 0);

-- The first queued job of one template in a class: one seek, however long the queue.
CREATE INDEX jobs_template_queue ON jobs (template, priority_class, round, id) WHERE state = 'queued';
