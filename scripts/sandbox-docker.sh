#!/usr/bin/env bash
# The sandbox's Docker engine and base image, started and stopped by the project itself.
#   scripts/sandbox-docker.sh start   start dockerd on a socket of ours (prints DOCKER_HOST)
#   scripts/sandbox-docker.sh base    make the local Debian 12 + Python 3.11 base image
#   scripts/sandbox-docker.sh stop    stop our dockerd
# The engine runs without a bridge or iptables rules: the default bridge rewrites the
# host's firewall. Builds and containers use host networking instead.
set -euo pipefail
STATE=${DLWORKSHOP_DOCKER_DIR:-/var/lib/dlworkshop/docker}
RUN=/run/dlworkshop-docker
SOCK=$RUN/docker.sock
BASE=dlworkshop/bookworm-python:2  # bump with the recipe below (container/build.py too)
MIRROR=${DEBIAN_MIRROR:-$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

log() { printf '==> %s\n' "$*" >&2; }

ours_alive() {
  [ -f "$RUN/dockerd.pid" ] || return 1
  local pid; pid=$(cat "$RUN/dockerd.pid")
  # A port or socket probe can pass against a stranger: check the process is ours.
  [ -d "/proc/$pid" ] && grep -q dockerd "/proc/$pid/cmdline" 2>/dev/null
}

start() {
  mkdir -p "$STATE" "$RUN"
  if ! ours_alive; then
    log "starting dockerd (data in $STATE)"
    dockerd --bridge=none --iptables=false --ip-masq=false --storage-driver=overlay2 \
      --data-root "$STATE/data" --exec-root "$RUN/exec" --pidfile "$RUN/dockerd.pid" \
      -H "unix://$SOCK" >"$STATE/dockerd.log" 2>&1 &
    for _ in $(seq 1 60); do
      DOCKER_HOST="unix://$SOCK" docker version >/dev/null 2>&1 && break
      sleep 0.5
    done
  fi
  DOCKER_HOST="unix://$SOCK" docker version >/dev/null 2>&1 || {
    log "dockerd did not start; see $STATE/dockerd.log"; tail -5 "$STATE/dockerd.log" >&2; exit 1; }
  echo "unix://$SOCK"
}

base() {
  export DOCKER_HOST="unix://$SOCK"
  docker image inspect "$BASE" >/dev/null 2>&1 && return 0
  local root; root=$(mktemp -d /var/tmp/dlworkshop-base.XXXXXX)
  log "making $BASE with debootstrap from $MIRROR (about a minute)"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$root" "$MIRROR" >"$STATE/debootstrap.log" 2>&1
  mountpoint -q "$root/proc" && umount "$root/proc"
  # As slim as the public python:3.11-slim-bookworm: no apt caches, docs, manuals or locales.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
  tar -C "$root" --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' -c . \
    | docker import - "$BASE" >/dev/null
  rm -rf "$root"
  log "$BASE is $(docker image inspect -f '{{.Size}}' "$BASE" | awk '{printf "%d MB", $1/1e6}')"
}

stop() {
  if ours_alive; then
    local pid; pid=$(cat "$RUN/dockerd.pid")
    # Every rebuild leaves the image it replaced behind, untagged: do not let them pile up.
    DOCKER_HOST="unix://$SOCK" docker image prune -f >/dev/null 2>&1 || true
    log "stopping dockerd ($pid)"
    kill "$pid"
    for _ in $(seq 1 60); do [ -d "/proc/$pid" ] || break; sleep 0.5; done
  fi
}

case "${1:-}" in
  start) start ;;
  base) base ;;
  stop) stop ;;
  *) echo "usage: $0 start|base|stop" >&2; exit 2 ;;
esac
