#!/usr/bin/env bash
# Debian's curl and jq, which the docs' examples use (tests/docs runs every one of them).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
missing=()
for tool in curl jq; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[ ${#missing[@]} -eq 0 ] && exit 0
command -v apt-get >/dev/null || die "${missing[*]} missing and apt-get is not available"
echo "careloop: installing Debian's ${missing[*]}"
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null \
  || die "apt-get install ${missing[*]} failed"
