"""The PostgreSQL store: the same contract as the SQLite one (`storage.interface.Store`), for
deployments that want a database server or several processes on one queue.

`pool` (asyncpg, failures as `StoreUnavailable`), `schema` + `migrations/` (its own versioned
schema, applied under an advisory lock), `jobs` (the claim with `FOR UPDATE SKIP LOCKED`),
`admission` (buckets, the admission view, the atomic admit), `settings`, `history`, `listener`
(LISTEN for change notices) and `store` (`PostgresStore`, the whole).
"""

from storage.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
