"""Plain-SQL migrations: `NNN_name.sql` files applied in order, once, under an advisory lock.

The runtime's own tables (outbox, processed events) come first, as versions `runtime/NNN_...`,
then the service's. A changed file that was already applied is an error, not a silent skip.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from runtime.db import Connection

log = logging.getLogger(__name__)
RUNTIME_SQL = Path(__file__).parent / "sql"


@dataclass(frozen=True)
class Migration:
    version: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(directory: Path, namespace: str) -> list[Migration]:
    return [
        Migration(f"{namespace}/{path.name}", path.read_text()) for path in sorted(directory.glob("*.sql"))
    ]


class MigrationChanged(RuntimeError):
    pass


async def apply_migrations(conn: Connection, schema: str, migrations: list[Migration]) -> list[str]:
    """Apply what is missing; return the versions applied now."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"careloop-migrations:{schema}")
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version text PRIMARY KEY,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {
            r["version"]: r["checksum"]
            for r in await conn.fetch("SELECT version, checksum FROM schema_migrations")
        }
        for migration in migrations:
            if migration.version in done:
                if done[migration.version] != migration.checksum:
                    raise MigrationChanged(f"{schema}: applied migration {migration.version} was edited")
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                    migration.version,
                    migration.checksum,
                )
            applied_now.append(migration.version)
            log.info("%s: applied migration %s", schema, migration.version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", f"careloop-migrations:{schema}")
    return applied_now
