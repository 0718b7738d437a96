#!/usr/bin/env bash
# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium; no browser download).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
[ -x /usr/bin/chromium ] && exit 0
command -v apt-get >/dev/null || die "Chromium is missing and apt-get is not available"
echo "careloop: installing Debian's chromium package"
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null \
  || die "apt-get install chromium failed"
