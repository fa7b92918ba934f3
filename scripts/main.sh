#!/usr/bin/env bash
# The main job: set up what is missing, create an encrypted repository the first time (in a
# local folder by default; STORE may also be sftp://user@host/path or user@host:path), and
# mount it as a plaintext folder in the foreground. Ctrl-C (or
# `cairn unmount MOUNTPOINT` from another terminal) saves everything, takes a snapshot and exits.
#   bash scripts/main.sh [STORE] [MOUNTPOINT]     (defaults: ~/cairn-store and ~/cairn)
# The passphrase is asked for once on the terminal (twice when the repository is created),
# or taken from CAIRN_PASSWORD_FILE / CAIRN_PASSWORD for unattended runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
store="${1:-$HOME/cairn-store}"
mountpoint="${2:-$HOME/cairn}"
cairn() { bin/cairn "$@"; }
# Exit code 10 means "no repository there yet" (key list needs no passphrase).
set +e
cairn key list "$store" >/dev/null 2>&1
status=$?
set -e
new=false
[ "$status" -eq 10 ] && new=true

# Ask here, once, and hand the answer to each cairn command through a pipe (/dev/fd/N):
# it is never in the environment, in a file, or on a command line.
if [ -z "${CAIRN_PASSWORD:-}" ] && [ -z "${CAIRN_PASSWORD_FILE:-}" ] && [ -t 0 ]; then
  if $new; then
    read -rs -p "New passphrase for $store: " passphrase; echo >&2
    read -rs -p "Repeat it: " repeated; echo >&2
    if [ "$passphrase" != "$repeated" ]; then echo "cairn: the two passphrases differ; nothing was created" >&2; exit 2; fi
    unset repeated
  else
    read -rs -p "Passphrase for $store: " passphrase; echo >&2
  fi
  with_secret() { cairn "$@" --password-file <(printf '%s' "$passphrase"); }
else
  with_secret() { cairn "$@"; }
fi

if $new; then
  with_secret init "$store"
fi
mkdir -p "$mountpoint"
echo "Mounting $store at $mountpoint; copy or rsync files into it. Ctrl-C to unmount (it prints the snapshot it saves)."
with_secret mount "$store" "$mountpoint"
