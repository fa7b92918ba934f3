#!/usr/bin/env bash
# Makes a tree of COUNT small files (default 1,000,000) for issue 14's scale test:
# folders dNNN/eNN of 1,000 files each (100 e-folders per d-folder), every file a few
# lines of text naming its number, so no two are alike.
# Usage: bench/make-many-files.sh DIR [COUNT]   (DIR must not exist)
set -euo pipefail
dir=${1:?usage: make-many-files.sh DIR [COUNT]}
count=${2:-1000000}
[ -e "$dir" ] && { echo "$dir exists; give a new folder" >&2; exit 2; }
python3 - "$dir" "$count" <<'PY'
import os, sys
root, count = sys.argv[1], int(sys.argv[2])
per_folder = 1000
for i in range(count):
    folder = os.path.join(root, f"d{i // (per_folder * 100):03d}", f"e{(i // per_folder) % 100:02d}")
    if i % per_folder == 0:
        os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"f{i % per_folder:03d}.txt"), "w") as f:
        f.write(f"file {i}\n" * (1 + i % 7))
PY
echo "made $count files under $dir"
