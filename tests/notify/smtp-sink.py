#!/usr/bin/env python3
"""smtp-sink.py: a small SMTP server for the sess-notify tests, on loopback.

    smtp-sink.py RECORDFILE [--drop-first] [--reject] [--starttls CERT KEY]

Prints {"port": N} once listening.  Each accepted message is one JSON line
in RECORDFILE: {"mail_from", "rcpt", "data"} (data with the dot-stuffing
undone).  --drop-first closes the connection in the middle of the first
message's DATA, without an answer; --reject refuses every recipient with
550.  --starttls offers STARTTLS with that certificate and refuses MAIL
before it (530); records then say "tls": true.  Ends on SIGTERM.
"""
import asyncio
import json
import signal
import ssl
import sys


def main():
    record = sys.argv[1]
    drop_first = "--drop-first" in sys.argv
    reject = "--reject" in sys.argv
    state = {"dropped": False}
    tls_ctx = None
    if "--starttls" in sys.argv:
        i = sys.argv.index("--starttls")
        tls_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_ctx.load_cert_chain(sys.argv[i + 1], sys.argv[i + 2])

    async def session(reader, writer):
        def send(line):
            writer.write((line + "\r\n").encode())

        mail_from, rcpt, tls = None, [], False
        send("220 sink ESMTP")
        await writer.drain()
        while True:
            line = await reader.readline()
            if not line:
                break
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            verb = cmd[:4].upper()
            if verb in ("EHLO", "HELO"):
                send("250-sink")
                if tls_ctx is not None and not tls:
                    send("250-STARTTLS")
                send("250 8BITMIME")
            elif verb == "STAR" and tls_ctx is not None and not tls:
                send("220 go ahead")
                await writer.drain()
                await writer.start_tls(tls_ctx)
                tls = True
                continue
            elif verb == "MAIL" and tls_ctx is not None and not tls:
                send("530 must issue a STARTTLS command first")
            elif verb == "MAIL":
                mail_from, rcpt = cmd[10:].strip(), []
                send("250 ok")
            elif verb == "RCPT":
                if reject:
                    send("550 no such user")
                else:
                    rcpt.append(cmd[8:].strip())
                    send("250 ok")
            elif verb == "DATA":
                send("354 go ahead")
                await writer.drain()
                lines = []
                while True:
                    d = await reader.readline()
                    if not d:
                        return
                    if d in (b".\r\n", b".\n"):
                        break
                    if d.startswith(b".."):
                        d = d[1:]
                    lines.append(d)
                    if drop_first and not state["dropped"] and len(lines) > 3:
                        state["dropped"] = True
                        writer.close()
                        return
                with open(record, "a") as f:
                    f.write(json.dumps({
                        "mail_from": mail_from, "rcpt": rcpt, "tls": tls,
                        "data": b"".join(lines).decode("utf-8", "replace"),
                    }) + "\n")
                send("250 queued")
            elif verb == "RSET":
                mail_from, rcpt = None, []
                send("250 ok")
            elif verb == "NOOP":
                send("250 ok")
            elif verb == "QUIT":
                send("221 bye")
                await writer.drain()
                break
            else:
                send("502 not implemented")
            await writer.drain()
        writer.close()

    async def serve():
        server = await asyncio.start_server(session, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        print(json.dumps({"port": port}), flush=True)
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
        async with server:
            await stop

    asyncio.run(serve())


if __name__ == "__main__":
    main()
