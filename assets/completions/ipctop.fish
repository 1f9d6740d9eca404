# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_ipctop_global_optspecs
    string join \n attach= pid= comm= table-entries= v/verbose interval= ipc-ns= container= no-probe long-wait= record= h/help V/version
end

function __fish_ipctop_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_ipctop_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_ipctop_using_subcommand
    set -l cmd (__fish_ipctop_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c ipctop -n "__fish_ipctop_needs_command" -l attach -d 'Where to hook into the kernel' -r -f -a "auto\t'The per-syscall tracepoints (tracefs mounted privately if it is not), else the raw ones'
raw\t'Raw tracepoints sys_enter/sys_exit: need no tracefs; run on every syscall'
tracepoint\t'syscalls/sys_{enter,exit}_* tracepoints: need tracefs; run only on IPC syscalls'"
complete -c ipctop -n "__fish_ipctop_needs_command" -l pid -d 'Only this process\'s calls (filtered in the kernel; snapshots still see everything). It must be running when ipctop starts' -r
complete -c ipctop -n "__fish_ipctop_needs_command" -l comm -d 'Only the calls of tasks whose comm is exactly this (filtered in the kernel; comm is at most 15 bytes, so longer names are cut)' -r
complete -c ipctop -n "__fish_ipctop_needs_command" -l table-entries -d 'Entries of each of the probe\'s kernel tables of per-process counts (rows of process × object × syscall, and of process × semaphore). Rows of processes that are gone and of objects that are removed are deleted at every sample; calls that find the table full are counted as lost, never lost silently. Default 16384' -r
complete -c ipctop -n "__fish_ipctop_needs_command" -l interval -d 'Seconds between snapshots of /proc (and samples of the probe\'s counters)' -r
complete -c ipctop -n "__fish_ipctop_needs_command" -l ipc-ns -d 'Only the IPC namespace of this process (a pid: the namespace it is in when ipctop starts), or this namespace (its inode: the number in the /proc/PID/ns/ipc link, e.g. 4026531839). Every namespace by default' -r
complete -c ipctop -n "__fish_ipctop_needs_command" -l container -d 'Only the IPC namespace(s) of this container, as its runtime names it: its name ("web"), "runtime:name" ("podman:web"), its id or an id prefix of at least 4 hex digits, a Kubernetes pod as "namespace/pod" or its uid, a pod\'s container name, or a label as shown ("pod:default/web", "host", "ns:4026532177"). A namespace several containers share is selected by any of them; a container sharing the host\'s (--ipc=host) by its processes. Nothing named: one sentence listing what exists, exit 2' -r
complete -c ipctop -n "__fish_ipctop_needs_command" -l long-wait -d 'Flag waits at least this long (seconds; the same default as `report`)' -r
complete -c ipctop -n "__fish_ipctop_needs_command" -l record -d 'Also record the session to this file (see `ipctop record`; .zst compresses)' -r -F
complete -c ipctop -n "__fish_ipctop_needs_command" -s v -l verbose -d 'Say more (the verifier\'s log when the probe is refused)'
complete -c ipctop -n "__fish_ipctop_needs_command" -l no-probe -d 'Do not load the eBPF probe: snapshots of /proc only'
complete -c ipctop -n "__fish_ipctop_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c ipctop -n "__fish_ipctop_needs_command" -s V -l version -d 'Print version'
complete -c ipctop -n "__fish_ipctop_needs_command" -f -a "trace" -d 'Print every System V IPC call of every process, like strace (needs root / CAP_BPF)'
complete -c ipctop -n "__fish_ipctop_needs_command" -f -a "snapshot" -d 'Print the IPC objects (System V, then POSIX: queues, /dev/shm, futex waits in shared memory), who uses them, waits, leaks and deadlocks, once'
complete -c ipctop -n "__fish_ipctop_needs_command" -f -a "record" -d 'Record a session to a file (headless); with `-- COMMAND`, for the command\'s lifetime'
complete -c ipctop -n "__fish_ipctop_needs_command" -f -a "report" -d 'Analyse a recording: counts, failed calls, contention, leaks, deadlocks; --fail-on gates'
complete -c ipctop -n "__fish_ipctop_needs_command" -f -a "replay" -d 'Replay a recording in the dashboard (no root needed); without a file, the built-in demo'
complete -c ipctop -n "__fish_ipctop_needs_command" -f -a "serve" -d 'Export the live model as Prometheus/OpenMetrics metrics on GET /metrics (headless)'
complete -c ipctop -n "__fish_ipctop_needs_command" -f -a "completions" -d 'Print a completion script for a shell (bash, zsh, fish, elvish, powershell)'
complete -c ipctop -n "__fish_ipctop_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c ipctop -n "__fish_ipctop_using_subcommand trace" -l attach -d 'Where to hook into the kernel' -r -f -a "auto\t'The per-syscall tracepoints (tracefs mounted privately if it is not), else the raw ones'
raw\t'Raw tracepoints sys_enter/sys_exit: need no tracefs; run on every syscall'
tracepoint\t'syscalls/sys_{enter,exit}_* tracepoints: need tracefs; run only on IPC syscalls'"
complete -c ipctop -n "__fish_ipctop_using_subcommand trace" -l pid -d 'Only this process\'s calls (filtered in the kernel; snapshots still see everything). It must be running when ipctop starts' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand trace" -l comm -d 'Only the calls of tasks whose comm is exactly this (filtered in the kernel; comm is at most 15 bytes, so longer names are cut)' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand trace" -l table-entries -d 'Entries of each of the probe\'s kernel tables of per-process counts (rows of process × object × syscall, and of process × semaphore). Rows of processes that are gone and of objects that are removed are deleted at every sample; calls that find the table full are counted as lost, never lost silently. Default 16384' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand trace" -l ipc-ns -d 'Only the IPC namespace of this process (a pid: the namespace it is in when ipctop starts), or this namespace (its inode: the number in the /proc/PID/ns/ipc link, e.g. 4026531839). Every namespace by default' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand trace" -l container -d 'Only the IPC namespace(s) of this container, as its runtime names it: its name ("web"), "runtime:name" ("podman:web"), its id or an id prefix of at least 4 hex digits, a Kubernetes pod as "namespace/pod" or its uid, a pod\'s container name, or a label as shown ("pod:default/web", "host", "ns:4026532177"). A namespace several containers share is selected by any of them; a container sharing the host\'s (--ipc=host) by its processes. Nothing named: one sentence listing what exists, exit 2' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand trace" -l duration -d 'Stop after this many seconds' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand trace" -l buffer-mib -d 'Ring buffer size in MiB (a power of two, 1 to 1024)' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand trace" -l blocked-after-ms -d 'Show a call as in progress once it has run this long (ms)' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand trace" -l wait-ms -d 'With --notable: the wait that makes a semop/msgsnd/msgrcv notable, in ms' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand trace" -s v -l verbose -d 'Say more (the verifier\'s log when the probe is refused)'
complete -c ipctop -n "__fish_ipctop_using_subcommand trace" -l json -d 'One JSON object per line, and a summary object at the end'
complete -c ipctop -n "__fish_ipctop_using_subcommand trace" -l notable -d 'Print only the calls that stand out: failures, semop/msgsnd/msgrcv calls that waited at least --wait-ms, creates, removals, attaches and control commands. The others are counted in the kernel (see kernel_calls in the summary), which costs the traced programs less'
complete -c ipctop -n "__fish_ipctop_using_subcommand trace" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c ipctop -n "__fish_ipctop_using_subcommand snapshot" -l ipc-ns -d 'Only the IPC namespace of this process (a pid: the namespace it is in when ipctop starts), or this namespace (its inode: the number in the /proc/PID/ns/ipc link, e.g. 4026531839). Every namespace by default' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand snapshot" -l container -d 'Only the IPC namespace(s) of this container, as its runtime names it: its name ("web"), "runtime:name" ("podman:web"), its id or an id prefix of at least 4 hex digits, a Kubernetes pod as "namespace/pod" or its uid, a pod\'s container name, or a label as shown ("pod:default/web", "host", "ns:4026532177"). A namespace several containers share is selected by any of them; a container sharing the host\'s (--ipc=host) by its processes. Nothing named: one sentence listing what exists, exit 2' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand snapshot" -l long-wait -d 'Report waits at least this long (seconds; the same default as the dashboard, `replay` and `report`)' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand snapshot" -l sem-idle -d 'A semaphore set unused this long, whose users are gone, is a leak (seconds)' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand snapshot" -l json -d 'Print JSON (schema_version 2) instead of tables'
complete -c ipctop -n "__fish_ipctop_using_subcommand snapshot" -s h -l help -d 'Print help'
complete -c ipctop -n "__fish_ipctop_using_subcommand record" -l attach -d 'Where to hook into the kernel' -r -f -a "auto\t'The per-syscall tracepoints (tracefs mounted privately if it is not), else the raw ones'
raw\t'Raw tracepoints sys_enter/sys_exit: need no tracefs; run on every syscall'
tracepoint\t'syscalls/sys_{enter,exit}_* tracepoints: need tracefs; run only on IPC syscalls'"
complete -c ipctop -n "__fish_ipctop_using_subcommand record" -l pid -d 'Only this process\'s calls (filtered in the kernel; snapshots still see everything). It must be running when ipctop starts' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand record" -l comm -d 'Only the calls of tasks whose comm is exactly this (filtered in the kernel; comm is at most 15 bytes, so longer names are cut)' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand record" -l table-entries -d 'Entries of each of the probe\'s kernel tables of per-process counts (rows of process × object × syscall, and of process × semaphore). Rows of processes that are gone and of objects that are removed are deleted at every sample; calls that find the table full are counted as lost, never lost silently. Default 16384' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand record" -s o -l output -d 'The recording to write (zstd-compressed when it ends in .zst): always a new file, 0600; a regular file of that name is replaced, a symlink, device, FIFO or socket refused' -r -F
complete -c ipctop -n "__fish_ipctop_using_subcommand record" -l duration -d 'Stop after this many seconds' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand record" -l interval -d 'Seconds between snapshots of /proc' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand record" -l ipc-ns -d 'Only the IPC namespace of this process (a pid: the namespace it is in when ipctop starts), or this namespace (its inode: the number in the /proc/PID/ns/ipc link, e.g. 4026531839). Every namespace by default' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand record" -l container -d 'Only the IPC namespace(s) of this container, as its runtime names it: its name ("web"), "runtime:name" ("podman:web"), its id or an id prefix of at least 4 hex digits, a Kubernetes pod as "namespace/pod" or its uid, a pod\'s container name, or a label as shown ("pod:default/web", "host", "ns:4026532177"). A namespace several containers share is selected by any of them; a container sharing the host\'s (--ipc=host) by its processes. Nothing named: one sentence listing what exists, exit 2' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand record" -s v -l verbose -d 'Say more (the verifier\'s log when the probe is refused)'
complete -c ipctop -n "__fish_ipctop_using_subcommand record" -l every-call -d 'Record every call (larger files); by default calls that stand out are recorded with the kernel\'s exact per-process, per-object counts and wait times'
complete -c ipctop -n "__fish_ipctop_using_subcommand record" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c ipctop -n "__fish_ipctop_using_subcommand report" -l fail-on -d 'Exit 1 when any of these is met by the judged processes (comma-separated): leak, deadlock (proven), stuck (a waiter nobody alive can release), stalled (blocked, cannot be told), error (failed calls; interrupted and ended ones are not), drops (events or calls lost), wait>SECS' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand report" -l long-wait -d 'A wait this long is a finding (seconds)' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand report" -l sem-idle -d 'A semaphore set idle this long, with its users gone, is a leak (seconds)' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand report" -l scope -d 'What the findings and --fail-on judge: the recorded command\'s processes and objects (`command`; the rest of the machine is context), or everything (`all`). A recording without a command is judged whole' -r -f -a "command\t'The recorded command\'s processes and objects when there is a command, else everything'
all\t'Everything the recording saw'"
complete -c ipctop -n "__fish_ipctop_using_subcommand report" -l ipc-ns -d 'Only the IPC namespace of this process (a pid: the namespace it is in when ipctop starts), or this namespace (its inode: the number in the /proc/PID/ns/ipc link, e.g. 4026531839). Every namespace by default' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand report" -l container -d 'Only the IPC namespace(s) of this container, as its runtime names it: its name ("web"), "runtime:name" ("podman:web"), its id or an id prefix of at least 4 hex digits, a Kubernetes pod as "namespace/pod" or its uid, a pod\'s container name, or a label as shown ("pod:default/web", "host", "ns:4026532177"). A namespace several containers share is selected by any of them; a container sharing the host\'s (--ipc=host) by its processes. Nothing named: one sentence listing what exists, exit 2' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand report" -l json -d 'JSON (schema_version 3) instead of text'
complete -c ipctop -n "__fish_ipctop_using_subcommand report" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c ipctop -n "__fish_ipctop_using_subcommand replay" -l speed -d 'Playback speed (2 = twice as fast; 1/64 to 256)' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand replay" -l long-wait -d 'Flag waits at least this long (seconds; the same default as the dashboard, `snapshot` and `report`)' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand replay" -l ipc-ns -d 'Only the IPC namespace of this process (a pid: the namespace it is in when ipctop starts), or this namespace (its inode: the number in the /proc/PID/ns/ipc link, e.g. 4026531839). Every namespace by default' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand replay" -l container -d 'Only the IPC namespace(s) of this container, as its runtime names it: its name ("web"), "runtime:name" ("podman:web"), its id or an id prefix of at least 4 hex digits, a Kubernetes pod as "namespace/pod" or its uid, a pod\'s container name, or a label as shown ("pod:default/web", "host", "ns:4026532177"). A namespace several containers share is selected by any of them; a container sharing the host\'s (--ipc=host) by its processes. Nothing named: one sentence listing what exists, exit 2' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand replay" -s h -l help -d 'Print help'
complete -c ipctop -n "__fish_ipctop_using_subcommand serve" -l attach -d 'Where to hook into the kernel' -r -f -a "auto\t'The per-syscall tracepoints (tracefs mounted privately if it is not), else the raw ones'
raw\t'Raw tracepoints sys_enter/sys_exit: need no tracefs; run on every syscall'
tracepoint\t'syscalls/sys_{enter,exit}_* tracepoints: need tracefs; run only on IPC syscalls'"
complete -c ipctop -n "__fish_ipctop_using_subcommand serve" -l pid -d 'Only this process\'s calls (filtered in the kernel; snapshots still see everything). It must be running when ipctop starts' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand serve" -l comm -d 'Only the calls of tasks whose comm is exactly this (filtered in the kernel; comm is at most 15 bytes, so longer names are cut)' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand serve" -l table-entries -d 'Entries of each of the probe\'s kernel tables of per-process counts (rows of process × object × syscall, and of process × semaphore). Rows of processes that are gone and of objects that are removed are deleted at every sample; calls that find the table full are counted as lost, never lost silently. Default 16384' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand serve" -l listen -d 'Where to listen: ADDR:PORT, [IPV6]:PORT, HOST:PORT (every address of the name) or :PORT (every address). Loopback by default: give 0.0.0.0:PORT (or a host address) to let other machines scrape. Port 0 takes a free port (the one taken is printed)' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand serve" -l web.config.file -d 'TLS and basic authentication, in the Prometheus exporter toolkit\'s web configuration format (tls_server_config, basic_auth_users with bcrypt hashes, http_server_config headers); read again when it or a certificate changes' -r -F
complete -c ipctop -n "__fish_ipctop_using_subcommand serve" -l interval -d 'Seconds between snapshots of /proc and samples of the probe (and new expositions): Prometheus\'s usual scrape interval by default; 5 gives fresher figures for about three times the CPU' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand serve" -l ipc-ns -d 'Only the IPC namespace of this process (a pid: the namespace it is in when ipctop starts), or this namespace (its inode: the number in the /proc/PID/ns/ipc link, e.g. 4026531839). Every namespace by default' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand serve" -l container -d 'Only the IPC namespace(s) of this container, as its runtime names it: its name ("web"), "runtime:name" ("podman:web"), its id or an id prefix of at least 4 hex digits, a Kubernetes pod as "namespace/pod" or its uid, a pod\'s container name, or a label as shown ("pod:default/web", "host", "ns:4026532177"). A namespace several containers share is selected by any of them; a container sharing the host\'s (--ipc=host) by its processes. Nothing named: one sentence listing what exists, exit 2' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand serve" -l max-objects -d 'At most this many objects get series of their own, the most active (calls, waiters, findings), ranked at every exposition; the rest are counted in ipctop_export_objects_cut' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand serve" -l max-comms -d 'At most this many command names get series of their own (the rest are summed into comm="other")' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand serve" -l long-wait -d 'A wait this long is a finding (a long wait; and, its holder unknown, a stalled object), as `snapshot`, `report` and the dashboard take it (seconds)' -r
complete -c ipctop -n "__fish_ipctop_using_subcommand serve" -s v -l verbose -d 'Say more (the verifier\'s log when the probe is refused)'
complete -c ipctop -n "__fish_ipctop_using_subcommand serve" -l no-probe -d 'Do not load the eBPF probe: snapshots of /proc only (no call counts, no histograms)'
complete -c ipctop -n "__fish_ipctop_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c ipctop -n "__fish_ipctop_using_subcommand completions" -s h -l help -d 'Print help'
complete -c ipctop -n "__fish_ipctop_using_subcommand help; and not __fish_seen_subcommand_from trace snapshot record report replay serve completions help" -f -a "trace" -d 'Print every System V IPC call of every process, like strace (needs root / CAP_BPF)'
complete -c ipctop -n "__fish_ipctop_using_subcommand help; and not __fish_seen_subcommand_from trace snapshot record report replay serve completions help" -f -a "snapshot" -d 'Print the IPC objects (System V, then POSIX: queues, /dev/shm, futex waits in shared memory), who uses them, waits, leaks and deadlocks, once'
complete -c ipctop -n "__fish_ipctop_using_subcommand help; and not __fish_seen_subcommand_from trace snapshot record report replay serve completions help" -f -a "record" -d 'Record a session to a file (headless); with `-- COMMAND`, for the command\'s lifetime'
complete -c ipctop -n "__fish_ipctop_using_subcommand help; and not __fish_seen_subcommand_from trace snapshot record report replay serve completions help" -f -a "report" -d 'Analyse a recording: counts, failed calls, contention, leaks, deadlocks; --fail-on gates'
complete -c ipctop -n "__fish_ipctop_using_subcommand help; and not __fish_seen_subcommand_from trace snapshot record report replay serve completions help" -f -a "replay" -d 'Replay a recording in the dashboard (no root needed); without a file, the built-in demo'
complete -c ipctop -n "__fish_ipctop_using_subcommand help; and not __fish_seen_subcommand_from trace snapshot record report replay serve completions help" -f -a "serve" -d 'Export the live model as Prometheus/OpenMetrics metrics on GET /metrics (headless)'
complete -c ipctop -n "__fish_ipctop_using_subcommand help; and not __fish_seen_subcommand_from trace snapshot record report replay serve completions help" -f -a "completions" -d 'Print a completion script for a shell (bash, zsh, fish, elvish, powershell)'
complete -c ipctop -n "__fish_ipctop_using_subcommand help; and not __fish_seen_subcommand_from trace snapshot record report replay serve completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
