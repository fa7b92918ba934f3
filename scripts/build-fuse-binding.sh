#!/usr/bin/env bash
# Applies patches/ (fuse-native: nanosecond times, the utimens mtime slot, ERANGE for xattrs;
# see docs/ARCHITECTURE.md) and builds the binding from the patched source with node-gyp.
# node-gyp-build then loads build/Release/fuse.node instead of the unpatched prebuild.
# Runs as the package's postinstall, and again from scripts/setup.sh (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
npx --no-install patch-package --error-on-fail >/dev/null
binding=node_modules/fuse-native
if [ ! -f "$binding/build/Release/fuse.node" ] || [ "$binding/fuse-native.c" -nt "$binding/build/Release/fuse.node" ]; then
  (cd "$binding" && npm_config_loglevel=error npx --no-install node-gyp rebuild >/dev/null 2>&1) \
    || (npm rebuild fuse-native --build-from-source --loglevel=error >/dev/null)
fi
# Prove the patched binding is the one that loads.
node -e "const F=require('fuse-native'); if (typeof F.UTIME_NOW !== 'bigint') { console.error('fuse-native patch not applied'); process.exit(1) }"
[ -f "$binding/build/Release/fuse.node" ] || { echo "fuse-native was not built from the patched source" >&2; exit 1; }
