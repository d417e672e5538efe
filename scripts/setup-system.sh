#!/usr/bin/env bash
# Installs what Sentinel's build and tests need on a Debian bookworm machine, and makes sure
# Postgres and NATS (with JetStream) answer on their default ports. Idempotent; run as root.
#
# Why backports: Dawn (the `webgpu` npm package) rejects bookworm's Mesa 22 lavapipe
# ("shaderUniform*ArrayDynamicIndexing required"); Mesa 25 from bookworm-backports gives a CPU
# Vulkan adapter with subgroups, shader-f16 and timestamp queries.
set -euo pipefail

log() { echo "[setup-system] $*"; }
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

need_pkgs=()
have_backports_mesa() {
  dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -qE '^(2[3-9]|[3-9][0-9])\.'
}

if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  log "adding the bookworm-backports suite of Debian's archive"
  $SUDO tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

# docker-compose (v1, Debian's): test/deploy runs `docker-compose config` on docker-compose.yml; it
# parses and validates without a Docker engine, and Debian has no `docker compose` plugin.
for p in libvulkan1 vulkan-tools chromium postgresql nats-server docker-compose; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need_pkgs+=("$p")
done

if [ "${#need_pkgs[@]}" -gt 0 ] || ! have_backports_mesa; then
  log "apt-get update"
  $SUDO apt-get update -qq
  if ! have_backports_mesa; then
    log "installing mesa-vulkan-drivers (lavapipe) from bookworm-backports"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
  fi
  if [ "${#need_pkgs[@]}" -gt 0 ]; then
    log "installing ${need_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  fi
fi

# Postgres on 127.0.0.1:5432
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  log "starting Postgres"
  ver=$(ls /etc/postgresql | sort -n | tail -1)
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432 -q || { echo "[setup-system] Postgres does not answer on 127.0.0.1:5432" >&2; exit 1; }

# NATS with JetStream on 127.0.0.1:4222 (monitoring on 8222 so tests can check JetStream)
nats_up() { (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; }
if ! nats_up; then
  log "starting nats-server with JetStream"
  $SUDO mkdir -p /var/lib/nats-server /var/log
  $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
  for _ in $(seq 1 30); do nats_up && break; sleep 1; done
fi
nats_up || { echo "[setup-system] NATS does not answer on 127.0.0.1:4222" >&2; exit 1; }

if command -v vulkaninfo >/dev/null; then
  log "Vulkan devices: $(vulkaninfo --summary 2>/dev/null | grep -E 'deviceName' | sed 's/.*= //' | paste -sd, -)"
fi
log "done"
