"""The PostgreSQL + pgvector implementation of the storage contract (docs/postgres.md)."""
