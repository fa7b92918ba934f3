#!/usr/bin/env bash
# The main job: set up what is missing, create an encrypted repository the first time (in a
# local folder by default; STORE may also be sftp://user@host/path or user@host:path), and
# mount it as a plaintext folder in the foreground. Ctrl-C (or
# `cairn unmount MOUNTPOINT` from another terminal) saves everything, takes a snapshot and exits.
#   bash scripts/main.sh [STORE] [MOUNTPOINT]     (defaults: ~/cairn-store and ~/cairn)
# The passphrase is asked for on the terminal, or taken from CAIRN_PASSWORD_FILE /
# CAIRN_PASSWORD for unattended runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
store="${1:-$HOME/cairn-store}"
mountpoint="${2:-$HOME/cairn}"
cairn() { node dist/src/cli/main.js "$@"; }
# Exit code 10 means "no repository there yet" (key list needs no passphrase).
set +e
cairn key list "$store" >/dev/null 2>&1
status=$?
set -e
if [ "$status" -eq 10 ]; then
  cairn init "$store"
fi
mkdir -p "$mountpoint"
echo "Mounting $store at $mountpoint; copy or rsync files into it. Ctrl-C to unmount."
cairn mount "$store" "$mountpoint"
cairn snapshots "$store"
