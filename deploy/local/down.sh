#!/usr/bin/env bash
# Stops what up.sh started for this owner (see common.sh), and what an owner that died without its exit
# trap left: never a server it was pointed at, nor one a live owner started. Often run from an exit trap
# after Ctrl-C, when the terminal may be gone: a second Ctrl-C, a hang-up or a closed pipe (`make run |
# tee`) must not end it half-way.
trap '' INT HUP PIPE
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ -f "$STARTED" ] || exit 0
keep=""
status=0
while read -r server owner; do
  line="$server${owner:+ $owner}"$'\n'
  if [ -n "$owner" ] && ! kill -0 "$owner" 2>/dev/null; then owner="$OWNER"; fi
  if [ -z "$server" ] || [ "$owner" != "$OWNER" ]; then
    keep+="$line"
  elif [ "$server" = kafka ] || [ "$server" = postgres ]; then
    "$HERE/$server.sh" stop </dev/null || { status=1; keep+="$line"; }
  fi
done <"$STARTED"
if [ -n "$keep" ]; then printf '%s' "$keep" >"$STARTED"; else rm -f "$STARTED"; fi
exit "$status"
