#!/usr/bin/env bash
# Brings up the infrastructure CareLoop needs and writes .local/env.sh for the callers to source.
# KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, when set, point at existing servers and nothing is started.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# down.sh stops only what this run started, never a server that was already up.
STARTED="$LOCAL_DIR/started"
: >"$STARTED"

if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  port_open "$KAFKA_PORT" || echo kafka >>"$STARTED"
  "$HERE/kafka.sh" start
  KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$KAFKA_PORT"
fi
if [ -z "${DATABASE_URL:-}" ]; then
  port_open "$PG_PORT" || echo postgres >>"$STARTED"
  "$HERE/postgres.sh" start
  DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
fi

cat >"$LOCAL_DIR/env.sh" <<ENV
export KAFKA_BOOTSTRAP_SERVERS='$KAFKA_BOOTSTRAP_SERVERS'
export DATABASE_URL='$DATABASE_URL'
ENV
