"""What the loopback proxies of the specs and benches share (faultproxy,
gateproxy, bench/countproxy): a threaded HTTP server on 127.0.0.1 that
prints "PORT <n>" on its first line of stdout, and forwarding a request to
the upstream unchanged (Host header included, so SigV4 signatures still
verify). Each proxy passes a function that sees every request first and
says whether it answered it itself.
"""
import http.client
import http.server
import socketserver
import threading
import urllib.parse


def forward(handler, upstream, body, timeout=120):
    """Sends the request handler holds (its body already read) to upstream
    and writes the answer back; a HEAD answer keeps its Content-Length."""
    conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=timeout)
    conn.putrequest(handler.command, handler.path, skip_host=True, skip_accept_encoding=True)
    for k, v in handler.headers.items():
        conn.putheader(k, v)
    conn.endheaders(body)
    resp = conn.getresponse()
    data = resp.read()
    handler.send_response(resp.status)
    length = str(len(data))
    for k, v in resp.getheaders():
        if k.lower() == "content-length" and handler.command == "HEAD":
            length = v  # a HEAD answer says the size of the body it does not send
        if k.lower() in ("transfer-encoding", "connection", "content-length"):
            continue
        handler.send_header(k, v)
    handler.send_header("Content-Length", length)
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(data)
    conn.close()


def serve(upstream_url, first, lifetime=600, timeout=120):
    """Runs the proxy until lifetime seconds have passed (the spec or bench
    kills it sooner). first(handler, body) -> True when it answered the
    request itself; otherwise the request is forwarded."""
    upstream = urllib.parse.urlsplit(upstream_url)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def handle_any(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if not first(self, body):
                forward(self, upstream, body, timeout)

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = handle_any

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    srv = Server(("127.0.0.1", 0), Handler)
    print("PORT %d" % srv.server_address[1], flush=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    threading.Event().wait(lifetime)
    srv.shutdown()
