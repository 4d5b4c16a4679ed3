#!/usr/bin/env python3
# http-raw.py: bytes to sessd on one TCP connection, its answers printed.
"""usage: http-raw.py HOST:PORT FILE

Sends FILE's bytes, as they are, on one TCP connection to HOST:PORT and
reads what comes back until the server closes the connection.  Prints one
line per response, "STATUS BODY" (the body on one line, as sent), and
then "closed".  If the server has not closed the connection within 10 s
of the last byte it sent, prints "open" instead and exits 1.  A response
that cannot be read (a truncated one, a reset) ends the output with
"broken: WHY" and exit status 1.
"""
import socket
import sys


def responses(data):
    """Splits data into (status, body) pairs; the rest, if any."""
    out = []
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return out, data
        head = data[:end].decode("latin-1").split("\r\n")
        status = int(head[0].split(" ")[1])
        fields = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        data = data[end + 4:]
        if status == 100:
            continue
        if "transfer-encoding" in fields:
            return out, b"chunked responses are not read here"
        n = int(fields.get("content-length", "0"))
        if len(data) < n:
            return out, data
        out.append((status, data[:n].decode("utf-8", "replace")))
        data = data[n:]
    return out, b""


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    host, _, port = sys.argv[1].rpartition(":")
    with open(sys.argv[2], "rb") as f:
        req = f.read()
    s = socket.create_connection((host, int(port)), timeout=10)
    s.sendall(req)
    got = b""
    state = "closed"
    while True:
        try:
            b = s.recv(65536)
        except socket.timeout:
            state = "open"
            break
        except OSError as e:
            state = "broken: %s" % e
            break
        if not b:
            break
        got += b
    s.close()
    out, rest = responses(got)
    for st, body in out:
        print(st, body.replace("\n", "\\n"))
    if rest:
        state = "broken: left over %r" % rest[:80]
    print(state)
    return 0 if state == "closed" else 1


if __name__ == "__main__":
    sys.exit(main())
