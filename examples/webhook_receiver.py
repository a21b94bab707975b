"""A webhook receiver for trying Accord's webhooks on your machine: it checks each
delivery's signature with the subscription's secret, refuses one signed more than five
minutes ago (a replay), answers a repeated event id without acting on it again, and
prints each event. Run it with the standard library alone, with the secret from the
answer POST /v1/webhooks gave (saved to a file) or from ACCORD_WEBHOOK_SECRET:

    python3 examples/webhook_receiver.py 8787 subscription.json
    ACCORD_WEBHOOK_SECRET=whsec_... python3 examples/webhook_receiver.py 8787

docs/webhooks.md explains each step."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

TOLERANCE = 300  # seconds: an older signature is a replay
SECRET = os.environ.get("ACCORD_WEBHOOK_SECRET", "")
seen: set[str] = set()  # event ids acted on (a real receiver keeps them in its database)


def verify(secret: str, header: str, body: bytes, tolerance: int = TOLERANCE) -> bool:
    """Accord-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    t = fields.get("t", "")
    if not (t.isascii() and t.isdigit()) or "v1" not in fields:
        return False
    signed = t.encode() + b"." + body
    expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(t)) <= tolerance
    return fresh and hmac.compare_digest(expected.encode(), fields["v1"].encode())


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not verify(SECRET, self.headers.get("Accord-Signature", ""), body):
            self.send_response(400)  # Accord retries; a forgery or a replay is refused again
            self.end_headers()
            return
        event = json.loads(body)
        if event["id"] not in seen:  # delivery is at least once: act once per event id
            seen.add(event["id"])
            print(event["type"], event["id"], json.dumps(event["data"]), flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    if len(sys.argv) > 2:  # the subscription as POST /v1/webhooks answered it
        with open(sys.argv[2], encoding="utf-8") as answer:
            SECRET = json.load(answer)["secret"]
    if not SECRET:
        sys.exit("name the file of POST /v1/webhooks's answer, or set ACCORD_WEBHOOK_SECRET")
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8787
    HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
