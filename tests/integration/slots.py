#!/usr/bin/env python3
"""Listener slot exhaustion, for real, on loopback (issue #24 item 8).

usage: slots.py PORT SECONDS [PER_ADDRESS] [SCHEME]

From each of 127.0.0.2 .. 127.0.0.5, keeps PER_ADDRESS (default 32)
connections open to 127.0.0.1:PORT, each holding half a request's headers
and trickling one more header line every 2 s so that an idle timeout does
not end it; a connection that is cut is opened again at once. Meanwhile it
probes GET /healthz from 127.0.0.1 with curl twice a second (2 s timeout
each). Prints "probes N ok M" and "held H" (attack connections the server
still holds a second after the attack stops) and exits 0; the caller
decides what share is enough.
"""
import selectors
import socket
import subprocess
import sys
import threading
import time

port = int(sys.argv[1])
seconds = float(sys.argv[2])
per_address = int(sys.argv[3]) if len(sys.argv) > 3 else 32
scheme = sys.argv[4] if len(sys.argv) > 4 else "http"
sources = [f"127.0.0.{i}" for i in range(2, 6)]
end = time.monotonic() + seconds
sel = selectors.DefaultSelector()
conns = {}  # socket -> (source, last trickle)


def open_one(src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        s.bind((src, 0))
        s.connect_ex(("127.0.0.1", port))
    except OSError:
        s.close()
        return
    conns[s] = [src, 0.0, False]
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)


def close_one(s):
    sel.unregister(s)
    del conns[s]
    s.close()


probes = {"n": 0, "ok": 0}


def prober():
    while time.monotonic() < end - 2:
        t = time.monotonic()
        r = subprocess.run(["curl", "-sk", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}",
                            f"{scheme}://127.0.0.1:{port}/healthz"], capture_output=True, text=True)
        probes["n"] += 1
        probes["ok"] += r.stdout.strip() == "200"
        time.sleep(max(0.0, 0.5 - (time.monotonic() - t)))


for src in sources:
    for _ in range(per_address):
        open_one(src)
time.sleep(0.5)  # the attack first, then the probes
th = threading.Thread(target=prober)
th.start()
while time.monotonic() < end:
    now = time.monotonic()
    for key, ev in sel.select(timeout=0.2):
        s = key.fileobj
        src, last, started = conns[s]
        if ev & selectors.EVENT_READ:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:  # cut off (or refused): again, at once
                close_one(s)
                open_one(src)
                continue
        if ev & selectors.EVENT_WRITE and not started:
            try:
                s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                conns[s][2] = True
                conns[s][1] = now
                sel.modify(s, selectors.EVENT_READ)
            except OSError:
                close_one(s)
                open_one(src)
    for s, (src, last, started) in list(conns.items()):
        if started and now - last >= 2:
            try:
                s.send(b"X-Slow: 1\r\n")
                conns[s][1] = now
            except OSError:
                close_one(s)
                open_one(src)
    for src in sources:
        for _ in range(per_address - sum(1 for v in conns.values() if v[0] == src)):
            open_one(src)
th.join()


def still_open(s):
    """Whether the server still holds s: no end of file, no reset."""
    try:
        return s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


# connections the kernel queued but the server had not yet accepted look
# open to a client; give the server a second to accept and refuse them,
# with no new ones opened, then count what it really holds
time.sleep(1)
held = sum(1 for s, v in conns.items() if v[2] and still_open(s))
print(f"probes {probes['n']} ok {probes['ok']}")
print(f"held {held}")
