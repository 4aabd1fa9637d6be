-- v3: several processes on one queue, as SQLite's v6 (storage/migrations/0006_leases.sql; the
-- rules are JobStore.claim_next and adopt in storage/interface.py). owner: the process holding
-- a job that is on a backend or being posted, until lease_until (epoch seconds); after that any
-- other process may adopt it. claimed_by: the process that claimed it, whose ComfyUI client
-- the prompt's events go to (adoption keeps it).
ALTER TABLE jobs ADD COLUMN owner TEXT;
ALTER TABLE jobs ADD COLUMN lease_until DOUBLE PRECISION;
ALTER TABLE jobs ADD COLUMN claimed_by TEXT;

-- A backend's slots are counted at each claim: the jobs on it now, whoever holds them.
CREATE INDEX jobs_in_flight ON jobs (backend) WHERE state IN ('submitted', 'running');
-- The heartbeat renews one owner's jobs; adoption looks for leases that ran out.
CREATE INDEX jobs_owner ON jobs (owner) WHERE state IN ('submitted', 'running', 'fetched');
CREATE INDEX jobs_lease ON jobs (lease_until) WHERE state IN ('submitted', 'running', 'fetched');
