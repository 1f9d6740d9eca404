#!/bin/sh
# Bytes per second of `ipctop record` (default mode; .zst and plain JSON lines), each case
# recorded by each ipctop given in turn (interleaved).
# Usage (root): bench/record_size.sh IPCTOP_WORKLOAD SECS IPCTOP...
# Cases: idle; busy200 = 200 processes, each doing semop -1/+1 on its own private set at
# 200 calls/s; busy200+table = the same after one process made 50,000 failed GETVAL calls on
# 50,000 different ids 1 s into the recording (50,000 aggregate rows that then stand still,
# as a host where many processes came and went leaves them). "steady" is the plain file's
# bytes/s over the second half of the recording (all lines; the kernel lines alone). Files go
# to a temp dir removed at the end.
set -eu
WL=$1 SECS=$2
shift 2
dir=$(mktemp -d /tmp/ipctop-recsize.XXXXXX)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT INT TERM
fill() {
  python3 -c '
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
for i in range(1000000, 1050000):
    libc.semctl(i, 0, 12)  # GETVAL on an id that does not exist: EINVAL
'
}
steady() { # bytes/s over the second half: all lines, and the kernel lines alone
  python3 -c '
import sys, json
ts = []
for l in open(sys.argv[1], "rb").read().split(b"\n")[1:]:
    if l:
        d = json.loads(l)
        ts.append((d["t"], len(l) + 1, "kernel" in d or "kernel_delta" in d))
t0, t1 = ts[0][0], ts[-1][0]
mid = (t0 + t1) / 2
span = (t1 - mid) / 1e9
tail = [(s, k) for t, s, k in ts if t >= mid]
print("steady_bytes_per_s=%d steady_kernel_bytes_per_s=%d" % (sum(s for s, _ in tail) / span, sum(s for s, k in tail if k) / span))
' "$1"
}
measure() { # case fill?
  for bin in "$@"; do
    [ "$bin" = "$1" ] || [ "$bin" = "$2" ] && continue
    for ext in zst jsonl; do
      "$bin" record --duration "$SECS" -o "$dir/r.$ext" >/dev/null 2>&1 &
      rp=$!
      if [ "$2" = fill ]; then sleep 1; fill; fi
      wait $rp
      sz=$(stat -c %s "$dir/r.$ext")
      extra=""
      [ $ext = jsonl ] && extra=" $(steady "$dir/r.$ext")"
      echo "$1 $bin $ext bytes=$sz bytes_per_s=$((sz / SECS))$extra"
      rm -f "$dir/r.$ext"
    done
  done
}
measure idle no "$@"
i=0
n=$#
while [ $i -lt 200 ]; do
  "$WL" paced-loop --rate 200 --secs $((SECS * 8 * n + 60)) >/dev/null 2>&1 &
  pids="$pids $!"
  i=$((i + 1))
done
sleep 3
measure busy200 no "$@"
measure busy200+table fill "$@"
for p in $pids; do kill "$p" 2>/dev/null || true; done
for p in $pids; do wait "$p" 2>/dev/null || true; done
pids=""
