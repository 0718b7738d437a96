#!/usr/bin/env bash
# Debian's docker-compose (a client only) so the tests can validate deploy/compose/compose.yml:
# `docker-compose config` needs no Docker engine.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
command -v docker-compose >/dev/null && exit 0
command -v apt-get >/dev/null || die "docker-compose is missing and apt-get is not available"
echo "careloop: installing Debian's docker-compose package"
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends docker-compose >/dev/null \
  || die "apt-get install docker-compose failed"
