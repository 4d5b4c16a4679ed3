#!/usr/bin/env python3
# presence-sse.py: a presence SSE reader that stops reading, then reads on,
# resuming with Last-Event-ID each time sessd cuts it off.
#
# usage: presence-sse.py HOST:PORT STREAM READY GO OUT
# Reads until the members event, creates READY, then reads nothing until
# GO exists; GO holds the seq of the last transition to wait for.  Writes
# the seq of each transition it gets to OUT, one a line, and prints
# {"events":N,"reconnects":N}.
import json
import os
import socket
import sys
import time

hostport, stream, ready, go, out = sys.argv[1:6]
host, port = hostport.rsplit(":", 1)


def connect(last):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A small window: what the reader does not read stays with sessd.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(60)
    s.connect((host, int(port)))
    req = "GET /v1/presence/%s?live=sse HTTP/1.1\r\nHost: x\r\n" % stream
    if last is not None:
        req += "Last-Event-ID: %d\r\n" % last
    s.sendall((req + "\r\n").encode())
    return s


class Reader:
    """One response: its head, then chunked SSE, event by event."""

    def __init__(self, sock):
        self.sock, self.buf, self.data, self.head = sock, b"", b"", None

    def fill(self):
        try:
            got = self.sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            got = b""
        self.buf += got
        return len(got) > 0

    def dechunk(self):
        if self.head is None:
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                return
            self.head, self.buf = self.buf[:i].decode(), self.buf[i + 4:]
            if not self.head.startswith("HTTP/1.1 200"):
                sys.exit("answer: " + self.head.splitlines()[0])
        while True:
            i = self.buf.find(b"\r\n")
            if i < 0:
                return
            size = int(self.buf[:i], 16)
            if len(self.buf) < i + 2 + size + 2:
                return
            self.data += self.buf[i + 2:i + 2 + size]
            self.buf = self.buf[i + 2 + size + 2:]

    def events(self):
        """The complete events so far: (id, event, data)."""
        self.dechunk()
        while b"\n\n" in self.data:
            raw, self.data = self.data.split(b"\n\n", 1)
            ev = {}
            for line in raw.decode().split("\n"):
                if line.startswith(":"):
                    continue
                k, _, v = line.partition(": ")
                ev[k] = v
            if "event" in ev:
                yield ev


def wait_for_members(r):
    deadline = time.time() + 30
    while time.time() < deadline:
        for ev in r.events():
            if ev["event"] == "members":
                return int(ev["id"])
        if not r.fill():
            sys.exit("closed before the members event")
    sys.exit("no members event")


r = Reader(connect(None))
last = wait_for_members(r)
open(ready, "w").close()
deadline = time.time() + 600
while not os.path.exists(go):
    if time.time() > deadline:
        sys.exit("no go")
    time.sleep(0.05)
want = int(open(go).read())
reconnects, n = 0, 0
with open(out, "w") as o:
    while last < want:
        got = False
        for ev in r.events():
            got = True
            if ev["event"] != "presence":
                sys.exit("unexpected event " + ev["event"])
            seq = int(ev["id"])
            if json.loads(ev["data"])["seq"] != seq:
                sys.exit("id %d is not the seq of its data" % seq)
            o.write("%d\n" % seq)
            last, n = seq, n + 1
        if last >= want:
            break
        if not got and not r.fill():
            # Cut off: resume after the last one read.
            r.sock.close()
            r = Reader(connect(last))
            reconnects += 1
print(json.dumps({"events": n, "reconnects": reconnects}))
