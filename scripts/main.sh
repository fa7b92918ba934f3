#!/usr/bin/env bash
# The main job: set up what is missing, then create (first time) and open an encrypted
# repository in a local folder, list its backup points and verify it.
#   bash scripts/main.sh [STORE]          (default STORE: ~/cairn-store)
# The passphrase is asked for on the terminal, or taken from CAIRN_PASSWORD_FILE /
# CAIRN_PASSWORD for unattended runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
store="${1:-$HOME/cairn-store}"
cairn() { node dist/src/cli/main.js "$@"; }
if [ ! -f "$store/config" ]; then
  cairn init "$store"
fi
cairn snapshots "$store"
cairn check "$store"
