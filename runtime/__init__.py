"""The one runtime every CareLoop service plugs into: settings, Kafka, Postgres, migrations,
transactional outbox, idempotent consumption with dead letters, health, metrics, logging."""
