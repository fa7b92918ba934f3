#!/usr/bin/env bash
# Builds cairn's low-level FUSE binding (native/), and applies patches/ (fuse-native: nanosecond times, the utimens mtime slot, ERANGE for xattrs,
# 64-bit st_ino, the caller's identity, and file calls Node lacks for restore; see docs/ARCHITECTURE.md) and builds the binding from the patched source with
# node-gyp. node-gyp-build then loads build/Release/fuse.node instead of the unpatched prebuild.
# Runs as the package's postinstall, and again from scripts/setup.sh (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
npx --no-install patch-package --error-on-fail >/dev/null
binding=node_modules/fuse-native
# node-gyp downloads node's headers unless told where they are; they ship with node itself
# (<prefix>/include/node), so use those and build without network access.
prefix=$(node -p 'process.execPath.replace(/\/bin\/node$/, "")')
nodedir_args=()
[ -f "$prefix/include/node/node_api.h" ] && nodedir_args=(--nodedir="$prefix")
# The node-gyp that npm bundles (the project does not depend on its own copy).
node_gyp="$(npm root -g)/npm/node_modules/node-gyp/bin/node-gyp.js"
[ -f "$node_gyp" ] || node_gyp="$(dirname "$(command -v npm)")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
if [ ! -f "$binding/build/Release/fuse.node" ] || [ "$binding/fuse-native.c" -nt "$binding/build/Release/fuse.node" ]; then
  if ! (cd "$binding" && node "$node_gyp" rebuild "${nodedir_args[@]}" >/tmp/cairn-node-gyp.log 2>&1); then
    echo "building the patched fuse-native binding failed; node-gyp said:" >&2
    tail -20 /tmp/cairn-node-gyp.log >&2
    exit 1
  fi
fi
# cairn's own addons (native/): the low-level FUSE binding the mount uses (lowlevel.c) and
# the chunker's inner loop (chunker.c), and zstd for blobs over the system's libzstd (zstd.c).
stale=0
for out in cairn_fuse:lowlevel.c cairn_chunker:chunker.c cairn_zstd:zstd.c; do
  node_file=native/build/Release/${out%%:*}.node
  if [ ! -f "$node_file" ] || [ "native/${out#*:}" -nt "$node_file" ] || [ native/binding.gyp -nt "$node_file" ]; then stale=1; fi
done
if [ "$stale" = 1 ]; then
  if ! echo '#include <zstd.h>' | cc -E - >/dev/null 2>&1; then
    echo "cairn's zstd binding (native/zstd.c) needs libzstd's headers: apt-get install libzstd-dev (scripts/setup.sh installs it)" >&2
    exit 1
  fi
  if ! (cd native && node "$node_gyp" rebuild "${nodedir_args[@]}" >/tmp/cairn-node-gyp.log 2>&1); then
    echo "building cairn's addons (native/) failed; node-gyp said:" >&2
    tail -20 /tmp/cairn-node-gyp.log >&2
    exit 1
  fi
fi
node -e "require('./native/build/Release/cairn_fuse.node')" || { echo "cairn's FUSE binding (native/build/Release/cairn_fuse.node) does not load" >&2; exit 1; }
node -e "require('./native/build/Release/cairn_chunker.node')" || { echo "cairn's chunker (native/build/Release/cairn_chunker.node) does not load" >&2; exit 1; }
node -e "require('./native/build/Release/cairn_zstd.node')" || { echo "cairn's zstd binding (native/build/Release/cairn_zstd.node) does not load" >&2; exit 1; }
# Prove the patched build is the one that loads (a stock prebuild stores wrong times).
node -e "const F=require('fuse-native'); if (F.NATIVE_PATCH_LEVEL !== 4) { console.error('the patched fuse-native build did not load (patch level ' + F.NATIVE_PATCH_LEVEL + ')'); process.exit(1) }"
