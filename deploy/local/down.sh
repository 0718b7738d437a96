#!/usr/bin/env bash
# Stops what up.sh started (never a server it was pointed at).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ -f "$LOCAL_DIR/started" ] || exit 0
grep -qx kafka "$LOCAL_DIR/started" && "$HERE/kafka.sh" stop
grep -qx postgres "$LOCAL_DIR/started" && "$HERE/postgres.sh" stop
rm -f "$LOCAL_DIR/started"
