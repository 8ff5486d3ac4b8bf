#!/usr/bin/env python3
"""A counting HTTP proxy for loopback benchmarks.

Usage: countproxy.py UPSTREAM_URL STATS_FILE

Listens on 127.0.0.1 (a free port, printed as "PORT <n>" on the first line of
stdout) and forwards every request to UPSTREAM_URL unchanged (Host header
included, so SigV4 signatures still verify). After every request it writes
STATS_FILE (JSON): {"requests": n, "by_action": {"service:Action": n}}. The
action is the form body's Action= (query protocol), the X-Amz-Target's
operation (JSON protocol), else "s3:<METHOD>" with "?list-type=2" shown as
ListObjectsV2. Counts only grow: the bench reads the file before and after
each run and subtracts. Killed by the bench; exits by itself after 3600 s.
"""
import http.client
import http.server
import json
import os
import socketserver
import sys
import threading
import urllib.parse

UPSTREAM = urllib.parse.urlsplit(sys.argv[1])
STATS_FILE = sys.argv[2]
LOCK = threading.Lock()
STATS = {"requests": 0, "by_action": {}}


def save():
    with open(STATS_FILE + ".tmp", "w") as f:
        json.dump(STATS, f, sort_keys=True)
    os.replace(STATS_FILE + ".tmp", STATS_FILE)


def action_of(command, path, headers, body):
    target = headers.get("X-Amz-Target")
    if target:
        return "json:" + target.split(".")[-1]
    ctype = headers.get("Content-Type", "")
    if ctype.startswith("application/x-www-form-urlencoded"):
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            auth = headers.get("Authorization", "")
            service = "?"
            if "Credential=" in auth:
                parts = auth.split("Credential=")[1].split(",")[0].split("/")
                if len(parts) >= 4:
                    service = parts[3]
            return "%s:%s" % (service, form["Action"][0])
    query = urllib.parse.urlsplit(path).query
    if command == "GET" and "list-type=2" in query:
        return "s3:ListObjectsV2"
    names = {"HEAD": "HeadObject", "PUT": "PutObject", "GET": "GetObject", "DELETE": "DeleteObject"}
    return "s3:" + names.get(command, command)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        action = action_of(self.command, self.path, self.headers, body)
        with LOCK:
            STATS["requests"] += 1
            STATS["by_action"][action] = STATS["by_action"].get(action, 0) + 1
            save()
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=300)
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for k, v in self.headers.items():
            conn.putheader(k, v)
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        length = str(len(data))
        for k, v in resp.getheaders():
            if k.lower() == "content-length" and self.command == "HEAD":
                length = v  # a HEAD answer says the size of the body it does not send
            if k.lower() in ("transfer-encoding", "connection", "content-length"):
                continue
            self.send_header(k, v)
        self.send_header("Content-Length", length)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    save()
    print("PORT %d" % srv.server_address[1], flush=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    # the bench kills it when done; never outlive it by much
    threading.Event().wait(3600)
    srv.shutdown()


if __name__ == "__main__":
    main()
