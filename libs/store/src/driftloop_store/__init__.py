"""The knowledge store: PostgreSQL schema, migrations and typed queries (psycopg 3)."""
