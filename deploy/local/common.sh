# Shared paths and helpers for the local infrastructure scripts (sourced, not run).
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL_DIR="${CARELOOP_LOCAL_DIR:-$REPO_ROOT/.local}"
KAFKA_PORT="${CARELOOP_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${CARELOOP_KAFKA_CONTROLLER_PORT:-19093}"
PG_PORT="${CARELOOP_PG_PORT:-15432}"
mkdir -p "$LOCAL_DIR"

die() {
  echo "careloop: $*" >&2
  exit 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
