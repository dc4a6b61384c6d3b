"""A real HTTP receiver on loopback for the webhook tests: records what arrives, checks each
signature with the endpoint's secret, and answers as scripted (status codes, a slow answer, a
dropped connection)."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from marketplace.hooks.signing import verify


class Receiver:
    def __init__(self) -> None:
        self.secret = ""
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0
        # What to answer next, one item per request: an int status, "slow", or "drop".
        self.script: deque[Any] = deque()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                action = receiver.script.popleft() if receiver.script else 200
                if action == "drop":
                    self.connection.close()
                    return
                if action == "slow":
                    time.sleep(1.5)
                    action = 200
                ok = verify(
                    secret=receiver.secret, header=self.headers["Waypost-Signature"], body=body
                )
                if not ok:
                    receiver.bad_signatures += 1
                    action = 400
                elif action == 200:
                    event = json.loads(body)
                    event["_event_id_header"] = self.headers["Waypost-Event-Id"]
                    receiver.received.append(event)
                self.send_response(action)
                self.end_headers()
                self.wfile.write(b"thanks" if action == 200 else b"nope")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def types(self) -> list[str]:
        return [event["type"] for event in self.received]
