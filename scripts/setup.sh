#!/usr/bin/env bash
# Installs what cairn and its tests need on a Debian machine, only what is missing:
# Debian packages (FUSE, a C compiler and libzstd-dev for cairn's addons, OpenSSH server for the SFTP tests, rsync, GnuPG,
# zstd for the recovery test, systemd-analyze for the unit files, fio for the load test,
# python3-cryptography for the reader written from docs/FORMAT.md alone),
# then the npm packages, then the build. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libfuse2 libzstd-dev fuse3 openssh-server openssh-client rsync gnupg zstd sqlite3 git attr python3 python3-cryptography g++ make tar util-linux systemd fio)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi
# cairn's FUSE binding and the patched fuse-native (npm ci builds them too; this catches a
# checkout whose native/ sources changed since, and rebuilds only then).
addon=native/build/Release/cairn_fuse.node
if [ ! -f "$addon" ] || [ ! -f native/build/Release/cairn_chunker.node ] || [ ! -f native/build/Release/cairn_zstd.node ] ||
   [ -n "$(find native -maxdepth 1 \( -name '*.c' -o -name binding.gyp \) -newer "$addon" -print -quit)" ] ||
   [ patches/fuse-native+2.2.6.patch -nt node_modules/fuse-native/build/Release/fuse.node ]; then
  bash scripts/build-fuse-binding.sh
fi
# Build only when a source is newer than the last build (the main job runs this every time).
built=dist/src/cli/main.js
if [ ! -f "$built" ] || [ -n "$(find src bench tsconfig.json package-lock.json -newer "$built" -print -quit 2>/dev/null)" ]; then
  echo "setup: building"
  npm run --silent build
  touch "$built"
fi
