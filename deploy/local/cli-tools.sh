#!/usr/bin/env bash
# Debian's command-line tools the checks and the bench use: curl and jq (the docs' examples, run by
# tests/docs), wrk (the bench's HTTP load generator) and a C compiler (the bench builds its webhook
# receiver from bench/receiver/receiver.c). Nothing is asked of apt when every one is already there.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# command -> the Debian package that provides it
declare -A package_of=([curl]=curl [jq]=jq [wrk]=wrk [cc]=gcc)
missing=()
for tool in curl jq wrk cc; do
  command -v "$tool" >/dev/null || missing+=("${package_of[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
command -v apt-get >/dev/null || die "${missing[*]} missing and apt-get is not available"
echo "careloop: installing Debian's ${missing[*]}"
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
# A fresh machine may have no package lists yet: install from the cached ones first, update only when
# that fails, so a machine that has them does not pay for an update.
install() { DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null; }
install 2>/dev/null || { $SUDO apt-get update -qq && install; } || die "apt-get install ${missing[*]} failed"
