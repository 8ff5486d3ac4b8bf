#!/usr/bin/env python3
"""A gate in front of a loopback AWS endpoint: holds some requests until told.

Usage: gateproxy.py UPSTREAM_URL MARKER GATE_FILE

Listens on 127.0.0.1 (a free port, printed as "PORT <n>" on the first line of
stdout) and forwards every request to UPSTREAM_URL unchanged (Host header
included, so SigV4 signatures still verify). A request whose body holds the
bytes MARKER (say "Action=CreateChangeSet") waits until GATE_FILE exists; the
first such request prints "HELD" on stdout, so a spec knows that the client
got that far and stopped there. That puts a process in a known place (a
deploy holding its lock) without any timing. Exits by itself after 600 s.
"""
import http.client
import http.server
import os
import socketserver
import sys
import threading
import time
import urllib.parse

UPSTREAM = urllib.parse.urlsplit(sys.argv[1])
MARKER = sys.argv[2].encode()
GATE = sys.argv[3]
SAID = threading.Event()
SAY = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if MARKER in body:
            with SAY:
                if not SAID.is_set():
                    SAID.set()
                    print("HELD", flush=True)
            while not os.path.exists(GATE):
                time.sleep(0.05)
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=120)
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            conn.putheader(k, v)
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() in ("transfer-encoding", "connection", "content-length"):
                continue
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    print("PORT %d" % srv.server_address[1], flush=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    # the spec closes it when done; never outlive it by much
    threading.Event().wait(600)
    srv.shutdown()


if __name__ == "__main__":
    main()
