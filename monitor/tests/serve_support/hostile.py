# Another user's connections to `ipctop serve`: IDLE that never send a request and NOREAD
# that send requests (for the largest, plain exposition) and never read, reconnecting what is
# closed, for SECS seconds; then prints "CONNECTS REFUSED". Used by
# monitor/tests/serve_hostile.rs and monitor/benches/serve_bench.rs, run as nobody.
#   python3 hostile.py PORT IDLE NOREAD SECS
import socket, sys, time
port, idle_n, noread_n, secs = (int(a) for a in sys.argv[1:5])
req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 8
def connect():
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    return s
def closed(s):
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
idle, noread, connects, refused = [], [], 0, 0
end = time.time() + secs
while time.time() < end:
    for s in [s for s in idle if closed(s)]:
        idle.remove(s); s.close()
    kept = []
    for s in noread:
        try:
            s.send(req)
            kept.append(s)
        except BlockingIOError:
            kept.append(s)
        except OSError:
            s.close()
    noread = kept
    try:
        while len(idle) < idle_n:
            idle.append(connect()); connects += 1
        while len(noread) < noread_n:
            noread.append(connect()); connects += 1
    except OSError:
        refused += 1
    time.sleep(0.05)
print(connects, refused, flush=True)
