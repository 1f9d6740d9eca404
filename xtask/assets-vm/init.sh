#!/bin/busybox sh
# /init of the `cargo xtask vm-smoke` guest (busybox, ipctop, ipctop-workload and their glibc).
# Runs the smoke cases and writes every result as one line on the second serial port (ttyS1):
#   @@vm <case> <stream> <text>
# The xtask (xtask/src/vm_smoke/results.rs) parses those lines; the kernel's console stays on ttyS0.
# To change what is tested, change run_case (the command) and, in the xtask, the check of its
# streams: e.g. `ipctop record -o F -- ipctop-workload basic` then `ipctop report F --fail-on …`.
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /tmp /sys/fs/bpf && mount -t tmpfs tmpfs /tmp
mount -t bpf bpf /sys/fs/bpf 2>/dev/null

OUT=/dev/ttyS1
[ -c $OUT ] || OUT=/dev/console
stty -F $OUT raw -echo 2>/dev/null
exec 3>$OUT
# emit CASE STREAM TEXT…
emit() { c=$1 s=$2; shift 2; echo "@@vm $c $s $*" >&3; }
# emit_file CASE STREAM FILE: one record per line of FILE
emit_file() { while IFS= read -r l || [ -n "$l" ]; do emit "$1" "$2" "$l"; done <"$3"; }

emit - kernel "$(uname -r)"
emit - machine "$(uname -m) $(grep -c ^processor /proc/cpuinfo) cpu"
[ -e /sys/kernel/btf/vmlinux ] && emit - btf yes || emit - btf no
grep -q bpf /proc/filesystems && emit - bpffs yes || emit - bpffs no
grep -q tracefs /proc/filesystems && emit - tracefs yes || emit - tracefs no
# The guest's IPC namespace (the inode of /proc/self/ns/ipc): every traced event must carry it.
emit - ipcns "$(stat -L -c %i /proc/self/ns/ipc)"

# wait_for FILE TEXT PID SECS: until FILE contains TEXT (0), PID exits (1) or SECS pass (2).
wait_for() {
    local n=0
    while [ $n -lt $(($4 * 10)) ]; do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
        n=$((n + 1))
    done
    return 2
}

# run_case CASE ATTACH [COMM WORKLOAD]: trace the `basic` workload (or the shell command
# WORKLOAD, whose tasks are named COMM) with `ipctop trace --attach ATTACH`.
# Streams: err (ipctop's stderr), out (its stdout, JSON lines), wl (the workload's stdout),
# wlerr, exit (codes), verifier (the -v log when the probe could not load).
run_case() {
    case=$1 attach=$2 name="${3:-vms-$1}" d=/tmp/case-$1
    work="${4:-ipctop-workload --name $name basic}"
    # Fresh files per case: a background job's redirections happen in the child, so reusing a
    # file could show the previous run's "tracing" line before this ipctop truncates it.
    rm -rf $d && mkdir -p $d
    emit "$case" begin "attach=$attach"
    t0=$(date +%s)
    ipctop trace --json --comm "$name" --attach "$attach" >$d/out 2>$d/err &
    pid=$!
    wait_for $d/err "ipctop: tracing" $pid 120
    started=$?
    wl=-
    if [ $started = 0 ]; then
        sh -c "$work" >$d/wl 2>$d/wlerr
        wl=$?
        sleep 1 # the reader polls every 50 ms
        kill -TERM $pid
    elif [ $started = 2 ]; then
        kill -KILL $pid
    fi
    wait $pid
    code=$?
    emit_file "$case" err $d/err
    emit_file "$case" out $d/out
    if [ "$wl" != - ]; then
        emit_file "$case" wl $d/wl
        emit_file "$case" wlerr $d/wlerr
    fi
    if [ $code = 3 ]; then
        ipctop trace -v --comm "$name" --attach "$attach" --duration 0 >/dev/null 2>$d/v
        tail -n 60 $d/v >$d/vt
        emit_file "$case" verifier $d/vt
    fi
    emit "$case" exit "trace=$code workload=$wl started=$started seconds=$(($(date +%s) - t0))"
}

# record_case: a workload with known findings (an AB/BA deadlock, a leaked segment, EEXIST,
# and `basic` with its EINVAL) under `ipctop record -- …`, then `ipctop report`, as JSON and
# as a gate (`--fail-on deadlock,leak,error` must fail, `--fail-on drops` must pass).
record_case() {
    case=record name=vms-rec d=/tmp/case-record
    rm -rf $d && mkdir -p $d
    emit $case begin "attach=auto"
    t0=$(date +%s)
    W="ipctop-workload --name $name"
    ipctop record --comm $name --interval 0.25 -o $d/r.ipctop.zst -- sh -c \
        "$W --hold-for 2 deadlock >$d/dl & $W --hold-for 2 --leave orphan-shm >$d/orphan & $W eexist >/dev/null; $W basic >$d/wl; wait" \
        >/dev/null 2>$d/err
    rec=$?
    ipctop report $d/r.ipctop.zst --json >$d/report 2>$d/rerr
    rep=$?
    ipctop report $d/r.ipctop.zst --fail-on deadlock,leak,error >/dev/null 2>$d/gate
    gate=$?
    ipctop report $d/r.ipctop.zst --fail-on drops >/dev/null 2>>$d/gate
    clean=$?
    for s in err report rerr dl orphan wl gate; do emit_file $case $s $d/$s; done
    # The recording itself (a few KB), to replay a failure on the host: the lines of stream
    # `b64` in results.log, base64-decoded, are the .ipctop.zst file.
    base64 $d/r.ipctop.zst >$d/b64 && emit_file $case b64 $d/b64
    emit $case exit "record=$rec report=$rep gate=$gate clean=$clean seconds=$(($(date +%s) - t0))"
}

# compat_case ATTACH: 32-bit processes (legacy32, a static `gcc -m32` build of
# monitor/tests/compat/legacy32.c): its direct i386 IPC calls and ipc(), then getppid/getpid
# calls that must give no event. An idle 32-bit process runs throughout: the tracepoint mode
# attaches its 32-bit path only when 32-bit processes exist. A kernel without ia32 emulation
# says so (exit record `ia32=no`).
compat_case() {
    case=compat32-$1
    if ! legacy32 getppid 1 >/tmp/ia32 2>&1; then
        emit "$case" begin "attach=$1"
        emit_file "$case" wlerr /tmp/ia32
        emit "$case" exit "trace=- workload=- ia32=no"
        return
    fi
    (sleep 900) | legacy32 idle &
    idle=$!
    run_case "$case" "$1" legacy32 "legacy32 direct 5 && legacy32 ipc 5 && legacy32 getppid 1000"
    kill $idle
}

# ns_case: a namespace that is not the guest's (judged by xtask/src/vm_smoke/ns_case.rs).
. /ns_case.sh

run_case raw raw
compat_case raw
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
run_case tracepoint tracepoint
compat_case tracepoint
record_case
ns_case
emit - done ok
exec 3>&-
sleep 0.2
poweroff -f
