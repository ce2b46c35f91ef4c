#!/usr/bin/env python3
"""Test origin for the issue-11 CLI script: GET files from a dir, POST/PUT echo the body, 404 otherwise."""
import http.server, os, sys
ROOT = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def _send(self, code, body, ctype="application/octet-stream"):
        self.send_response(code); self.send_header("Content-Type", ctype); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        p = os.path.join(ROOT, self.path.lstrip("/"))
        if not os.path.isfile(p): return self._send(404, b'{"error":"not found"}', "application/json")
        size = os.path.getsize(p)
        self.send_response(200); self.send_header("Content-Type", "application/json" if p.endswith(".json") else "application/octet-stream")
        self.send_header("Content-Length", str(size)); self.end_headers()
        with open(p, "rb") as f:
            while True:
                b = f.read(1 << 20)
                if not b: break
                self.wfile.write(b)
    def _echo(self):
        n = int(self.headers.get("Content-Length", "0")); body = self.rfile.read(n)
        self._send(200, body, self.headers.get("Content-Type", "application/octet-stream"))
    do_POST = _echo
    do_PUT = _echo
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
