#!/usr/bin/env bash
# Debian's Prometheus (prometheus + promtool) for the rule/dashboard tests and the demo's scraping.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
command -v promtool >/dev/null && command -v prometheus >/dev/null && exit 0
command -v apt-get >/dev/null || die "Prometheus is missing and apt-get is not available"
echo "careloop: installing Debian's prometheus package"
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
  || die "apt-get install prometheus failed"
# The package starts a system-wide server on :9090; CareLoop runs its own, so stop that one.
if command -v systemctl >/dev/null && systemctl is-active --quiet prometheus 2>/dev/null; then $SUDO systemctl stop prometheus || true; fi
pkill -f '^/usr/bin/prometheus' 2>/dev/null || true
