#!/usr/bin/env python3
"""A tiny loopback HTTP/1.1 server for the host.http specs (stdlib only).

    python3 spec/support/httpd.py [--ppid PID] [--tls CERT KEY] [--lifetime SECONDS]

Binds 127.0.0.1 on a free port and prints "PORT <n> PID <pid>" as its first
stdout line, then serves with keep-alive until killed. It exits by itself when
process PID (the spec runner) is gone or after --lifetime seconds (120), so it
cannot outlive the specs.

Endpoints (any method):
  /echo            JSON {method, path, query, target, headers: [[name, value]...],
                   body_length, body_sha256}; the same JSON is also sent in the
                   X-Echo header, and for PUT/POST/PATCH the body is the request
                   body itself
  /status/<code>   answers <code> with body "status <code>"
  /slow/<seconds>  sleeps, then answers "slow"
  /bytes/<n>       n bytes, byte i = i % 256 (?chunked=1: chunked encoding)
  /headers         duplicate Set-Cookie and X-Dup headers, X-Custom, X-Empty
  /redirect        302 to /echo
  /drop            closes the connection without answering
  /count           number of client connections accepted so far
  /barrier/<n>     waits until n requests wait here at once, then answers 200
                   "met" to all of them (504 "alone" after 10 s): proof that n
                   requests were in flight together, without timing them
  /hold/<seconds>  counts itself in flight, sleeps, answers the most requests
                   ever in flight in /hold at once (?reset=1: that peak is
                   reset first, before counting itself)
Any endpoint with ?close=1 answers with "Connection: close".
A request line with an absolute URI (a proxy request) is served as well, and
/echo reports the absolute URI in "target".
"""
import hashlib
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.Lock()
CONNECTIONS = 0
BARRIER = threading.Condition()
BARRIER_STATE = {"generation": 0, "waiting": 0}
HOLD = {"now": 0, "peak": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lakehost-httpd/1"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body are separate writes

    def setup(self):
        global CONNECTIONS
        super().setup()
        with LOCK:
            CONNECTIONS += 1

    def log_message(self, *args):  # quiet: the spec output stays clean
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def answer(self, code, body=b"", headers=(), query=None):
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        if query and query.get("close") == ["1"]:
            self.send_header("Connection", "close")
            self.close_connection = True
        if code >= 200 and code not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    def handle_any(self):
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query, keep_blank_values=True)
        body = self.read_body()
        seg = path.strip("/").split("/")
        if path == "/echo":
            info = {
                "method": self.command,
                "path": path,
                "query": parts.query,
                "target": self.path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body_length": len(body),
                "body_sha256": hashlib.sha256(body).hexdigest(),
            }
            text = json.dumps(info, sort_keys=True)
            out = body if self.command in ("PUT", "POST", "PATCH") else text.encode()
            self.answer(200, out, [("Content-Type", "application/json"), ("X-Echo", text)], query)
        elif seg[0] == "status" and len(seg) == 2:
            code = int(seg[1])
            self.answer(code, ("status %d" % code).encode(), [], query)
        elif seg[0] == "slow" and len(seg) == 2:
            time.sleep(float(seg[1]))
            self.answer(200, b"slow", [], query)
        elif seg[0] == "bytes" and len(seg) == 2:
            n = int(seg[1])
            data = (bytes(range(256)) * (n // 256 + 1))[:n]
            if query.get("chunked") == ["1"]:
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                step = 65536
                for i in range(0, n, step):
                    piece = data[i:i + step]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.answer(200, data, [("Content-Type", "application/octet-stream")], query)
        elif seg[0] == "barrier" and len(seg) == 2:
            need = int(seg[1])
            with BARRIER:
                gen = BARRIER_STATE["generation"]
                BARRIER_STATE["waiting"] += 1
                if BARRIER_STATE["waiting"] >= need:
                    BARRIER_STATE["generation"] += 1
                    BARRIER_STATE["waiting"] = 0
                    BARRIER.notify_all()
                    met = True
                else:
                    met = BARRIER.wait_for(lambda: BARRIER_STATE["generation"] != gen, timeout=10)
                    if not met:
                        BARRIER_STATE["waiting"] -= 1
            self.answer(200 if met else 504, b"met" if met else b"alone", [], query)
        elif seg[0] == "hold" and len(seg) == 2:
            with LOCK:
                if query.get("reset") == ["1"]:
                    HOLD["peak"] = 0
                HOLD["now"] += 1
                HOLD["peak"] = max(HOLD["peak"], HOLD["now"])
            time.sleep(float(seg[1]))
            with LOCK:
                HOLD["now"] -= 1
                peak = HOLD["peak"]
            self.answer(200, str(peak).encode(), [], query)
        elif path == "/headers":
            self.answer(200, b"headers", [
                ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-Custom", "  spaced value  "),
                ("X-Dup", "one"), ("X-Dup", "two"), ("X-Empty", ""),
            ], query)
        elif path == "/redirect":
            self.answer(302, b"moved", [("Location", "/echo")], query)
        elif path == "/drop":
            self.close_connection = True  # no answer at all
        elif path == "/count":
            with LOCK:
                n = CONNECTIONS
            self.answer(200, str(n).encode(), [], query)
        else:
            self.answer(404, b"no such endpoint", [], query)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = handle_any


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):  # clients hang up on /slow
        pass


def watchdog(ppid, lifetime):
    deadline = time.monotonic() + lifetime
    while time.monotonic() < deadline:
        if ppid:
            try:
                os.kill(ppid, 0)
            except ProcessLookupError:
                break
            except PermissionError:
                pass
        time.sleep(0.5)
    os._exit(0)


def main(argv):
    ppid, lifetime, tls = 0, 120.0, None
    i = 0
    while i < len(argv):
        if argv[i] == "--ppid":
            ppid, i = int(argv[i + 1]), i + 2
        elif argv[i] == "--lifetime":
            lifetime, i = float(argv[i + 1]), i + 2
        elif argv[i] == "--tls":
            tls, i = (argv[i + 1], argv[i + 2]), i + 3
        else:
            sys.exit("httpd.py: unknown argument " + argv[i])
    server = Server(("127.0.0.1", 0), Handler)
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls[0], tls[1])
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    threading.Thread(target=watchdog, args=(ppid, lifetime), daemon=True).start()
    sys.stdout.write("PORT %d PID %d\n" % (server.server_address[1], os.getpid()))
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
