#!/usr/bin/env bash
# A PostgreSQL cluster of Debian's package under .local/pg, on its own port.
#   postgres.sh start | stop
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PG_DIR="$LOCAL_DIR/pg"
# As root the cluster runs as the 'postgres' user, which must be able to reach its directory. A
# checkout under a private folder (mode 700, e.g. mktemp -d) is out of its reach: then the cluster
# lives in a world-traversable folder keyed by the checkout, and .local/pg links to it.
if [ "$(id -u)" = 0 ] && [ ! -L "$PG_DIR" ] && id postgres >/dev/null 2>&1 \
  && ! runuser -u postgres -- test -x "$LOCAL_DIR" 2>/dev/null; then
  key="$(printf '%s' "$LOCAL_DIR" | sha1sum | cut -c1-12)"
  mkdir -p "/var/tmp/careloop-$key/pg"
  chmod 755 "/var/tmp/careloop-$key"
  rm -rf "$PG_DIR"
  ln -s "/var/tmp/careloop-$key/pg" "$PG_DIR"
fi
[ -L "$PG_DIR" ] && PG_DIR="$(readlink -f "$PG_DIR")"
DATA="$PG_DIR/data"
LOG="$PG_DIR/postgres.log"

pg_bin() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
  if [ -z "$dir" ]; then
    command -v apt-get >/dev/null || die "PostgreSQL is missing and apt-get is not available"
    echo "careloop: installing Debian's postgresql package" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2 \
      || die "apt-get install postgresql failed"
    dir="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
  fi
  echo "$dir"
}

# initdb refuses to run as root: as root, the cluster belongs to the 'postgres' system user.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

start() {
  local bin; bin="$(pg_bin)"
  mkdir -p "$PG_DIR"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_DIR"
  if [ ! -f "$DATA/PG_VERSION" ]; then
    echo "careloop: creating a PostgreSQL cluster in $DATA"
    as_owner "$bin/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
      || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
  fi
  if as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    echo "careloop: PostgreSQL already running on 127.0.0.1:$PG_PORT"; return 0
  fi
  port_open "$PG_PORT" && die "port $PG_PORT is taken by another process; set CARELOOP_PG_PORT or DATABASE_URL"
  # pg_stat_statements is loaded so the bench can say which statements a scenario spent its time in
  local options="-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300"
  options="$options -c shared_buffers=256MB -c fsync=on -c shared_preload_libraries=pg_stat_statements"
  as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 -o "$options" start >/dev/null \
    || { tail -30 "$LOG" >&2; die "PostgreSQL did not start (log: $LOG)"; }
  echo "careloop: PostgreSQL ready on 127.0.0.1:$PG_PORT"
}

stop() {
  [ -f "$DATA/postmaster.pid" ] || return 0
  local bin; bin="$(pg_bin)"
  as_owner "$bin/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null && say "careloop: PostgreSQL stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  *) die "usage: postgres.sh start|stop|restart" ;;
esac
