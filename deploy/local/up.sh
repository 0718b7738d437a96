#!/usr/bin/env bash
# Brings up the infrastructure CareLoop needs and writes .local/env.sh for the callers to source.
# KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, when set, point at existing servers and nothing is started.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# down.sh stops only what its owner started (common.sh), never a server that was already up. Without an
# owner, what earlier calls without one recorded is forgotten (each of make infra, test and bench claims
# only the servers it starts itself); what a live owner recorded is kept; a dead owner's servers (a `make
# run` killed before its exit trap ran) pass to this caller, so that somebody still stops them.
records=""
if [ -f "$STARTED" ]; then
  while read -r server owner; do
    if [ -z "$server" ] || { [ -z "$owner" ] && [ -z "$OWNER" ]; }; then continue; fi
    if [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; then owner="$OWNER"; fi
    records+="$server${owner:+ $owner}"$'\n'
  done <"$STARTED"
fi
printf '%s' "$records" >"$STARTED"

# Recorded before the start: Ctrl-C during the start-up leaves a server for down.sh to stop.
record() {
  awk -v server="$1" '$1 != server' "$STARTED" >"$STARTED.tmp"
  echo "$1${OWNER:+ $OWNER}" >>"$STARTED.tmp"
  mv "$STARTED.tmp" "$STARTED"
}

if [ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" ]; then
  port_open "$KAFKA_PORT" || record kafka
  "$HERE/kafka.sh" start
  KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:$KAFKA_PORT"
fi
if [ -z "${DATABASE_URL:-}" ]; then
  port_open "$PG_PORT" || record postgres
  "$HERE/postgres.sh" start
  DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
fi

cat >"$LOCAL_DIR/env.sh" <<ENV
export KAFKA_BOOTSTRAP_SERVERS='$KAFKA_BOOTSTRAP_SERVERS'
export DATABASE_URL='$DATABASE_URL'
ENV
