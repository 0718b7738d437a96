# Shared paths and helpers for the local infrastructure scripts (sourced, not run).
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL_DIR="${CARELOOP_LOCAL_DIR:-$REPO_ROOT/.local}"
KAFKA_PORT="${CARELOOP_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${CARELOOP_KAFKA_CONTROLLER_PORT:-19093}"
PG_PORT="${CARELOOP_PG_PORT:-15432}"
mkdir -p "$LOCAL_DIR"

# A message that never fails: when the terminal is gone (`make run | tee` after Ctrl-C, a closed window)
# the stopping goes on silently instead of ending half-way under `set -e`. Callers that may outlive their
# terminal ignore SIGPIPE (down.sh), or the shell would die of it on the write.
say() { printf '%s\n' "$*" 2>/dev/null || true; }

die() {
  echo "careloop: $*" >&2
  exit 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# $LOCAL_DIR/started: a line "<server> [<owner>]" for each server up.sh started and down.sh has not stopped
# yet. The owner is CARELOOP_INFRA_OWNER, the pid of the shell that will run down.sh (`make run` sets it),
# or none (make infra, make test). down.sh stops only its own owner's servers, so another up.sh/down.sh
# meanwhile (`make infra` beside `make run`) neither forgets nor stops them.
STARTED="$LOCAL_DIR/started"
OWNER="${CARELOOP_INFRA_OWNER:-}"
