#!/usr/bin/env bash
# Issue 14's million-file steps on a store made by `cairn backup STORE TREE /` of
# bench/make-many-files.sh's tree: mount (page cache dropped first), memory, find twice,
# three snapshots after appending to one file, unmount. Needs root (drop_caches) and
# CAIRN_PASSWORD. Usage: bench/many-files-mount.sh STORE MOUNTPOINT [MOUNT OPTIONS...]
set -euo pipefail
store=${1:?usage: many-files-mount.sh STORE MOUNTPOINT [MOUNT OPTIONS...]}
mnt=${2:?usage: many-files-mount.sh STORE MOUNTPOINT [MOUNT OPTIONS...]}
shift 2
cli="$(cd "$(dirname "$0")/.." && pwd)/bin/cairn"
state=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$state" "$log"' EXIT
mkdir -p "$mnt"
seconds() { echo "$2 - $1" | bc; }
sync; echo 3 > /proc/sys/vm/drop_caches
t0=$(date +%s.%N)
"$cli" mount "$store" "$mnt" --state-dir "$state" "$@" > "$log" 2>&1 &
pid=$!
until grep -q "mounted at" "$log"; do
  kill -0 $pid 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.05
done
echo "mount: $(seconds "$t0" "$(date +%s.%N)") s"
memory() { grep -E "VmRSS|VmHWM" /proc/$pid/status | tr -s ' \t' ' ' | tr '\n' ' '; echo; }
# The mount process's CPU so far (user + system), in seconds: steadier than wall time here.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' /proc/$pid/stat; }
echo "after mount: $(memory)"
for pass in first second; do
  t0=$(date +%s.%N); files=$(find "$mnt" -type f | wc -l)
  echo "find ($pass): $files files in $(seconds "$t0" "$(date +%s.%N)") s (mount CPU so far $(cpu) s)"
  echo "after find: $(memory)"
done
"$cli" status "$mnt" | grep -E "memory|tree"
some=$(find "$mnt" -type f -print -quit)
for i in 1 2 3; do
  echo "appended $i" >> "$some"
  t0=$(date +%s.%N); "$cli" snapshot "$mnt" > /dev/null
  echo "snapshot after one change: $(seconds "$t0" "$(date +%s.%N)") s"
done
t0=$(date +%s.%N); "$cli" unmount "$mnt" > /dev/null
echo "unmount: $(seconds "$t0" "$(date +%s.%N)") s"
wait $pid
