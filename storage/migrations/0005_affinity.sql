-- v5: warm-model affinity (see storage/interface.py, JobStore.claim_next).
-- passed_over: how many times a claim took a job from behind this one because its backend
-- preferred the template it had loaded. A job passed over `window` times is taken before any
-- preferred job behind it, so affinity moves a job back by at most `window` places in all.
ALTER TABLE jobs ADD COLUMN passed_over INTEGER NOT NULL DEFAULT 0 CHECK (passed_over >= 0);

-- The first queued job of one template in a class: one seek, however long the queue.
CREATE INDEX jobs_template_queue ON jobs (template, priority_class, round, id) WHERE state = 'queued';
