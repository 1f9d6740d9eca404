# Sourced by init.sh. ns_case: a second IPC namespace (unshare -i), its set 0 under a burst of
# a known count, and one in the guest's own namespace (its set 0 too): `ipctop trace --ipc-ns`
# must give every event that namespace's inode and count its burst exactly, and `ipctop
# snapshot --json` must list both sets 0, each with its namespace (read from inside with
# setns). Streams: ns (the inode), out/err (trace), snap/serr (snapshot), wl/wlerr, exit.
ns_case() {
    case=ns name=vms-ns d=/tmp/case-ns
    rm -rf $d && mkdir -p $d
    emit $case begin "attach=auto"
    t0=$(date +%s)
    unshare -i sleep 120 &
    holder=$!
    n=0
    while [ "$(stat -L -c %i /proc/$holder/ns/ipc 2>/dev/null)" = "$(stat -L -c %i /proc/self/ns/ipc)" ] && [ $n -lt 50 ]; do
        sleep 0.1
        n=$((n + 1))
    done
    inode=$(stat -L -c %i /proc/$holder/ns/ipc)
    emit $case ns "$inode"
    ipctop trace --json --comm $name --ipc-ns $holder >$d/out 2>$d/err &
    pid=$!
    wait_for $d/err "ipctop: tracing" $pid 120
    started=$?
    wl=-
    if [ $started = 0 ]; then
        nsenter -i/proc/$holder/ns/ipc ipctop-workload --name $name --leave burst 500 >$d/wl 2>$d/wlerr
        wl=$?
        # The same set id in the guest's namespace: left out by --ipc-ns.
        ipctop-workload --name $name --leave burst 300 >/dev/null 2>>$d/wlerr
        sleep 1
        kill -TERM $pid
    elif [ $started = 2 ]; then
        kill -KILL $pid
    fi
    wait $pid
    code=$?
    ipctop snapshot --json >$d/snap 2>$d/serr
    snap=$?
    kill $holder
    for s in err out wl wlerr snap serr; do emit_file $case $s $d/$s; done
    emit $case exit "trace=$code workload=$wl started=$started snapshot=$snap seconds=$(($(date +%s) - t0))"
}
