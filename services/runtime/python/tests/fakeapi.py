"""An in-process fake of the Lambda Runtime API, for driving the real client.

Tests queue invocations; the client pulls them with GET .../invocation/next
and the fake records whatever the client posts back.
"""

import http.server
import json
import queue
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field

_BASE = "/2018-06-01/runtime"


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Tests kill clients mid-request on purpose; a reset is no news.
        pass


@dataclass
class Posted:
    """One POST the client made: kind is "response", "error" or "init_error"."""

    kind: str
    request_id: str | None
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class _Invocation:
    request_id: str
    body: bytes
    headers: dict = field(default_factory=dict)


# SESSION_PREFIX is the path ESB's agent appends to AWS_LAMBDA_RUNTIME_API.
SESSION_PREFIX = "/0123456789abcdef0123456789abcdef"


class FakeRuntimeAPI:
    """Start with start(), stop with close(); address is
    "127.0.0.1:port/<session prefix>", as ESB's agent hands it out: calls
    without the prefix are refused (403), as by ESB's gateway."""

    def __init__(self):
        self._pending = queue.Queue()
        self._posted = []
        self._cond = threading.Condition()
        self._closed = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        # A short poll interval keeps close() (and so each test) fast.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def address(self):
        host, port = self._server.server_address[:2]
        return f"{host}:{port}{SESSION_PREFIX}"

    def start(self):
        self._thread.start()
        return self

    def close(self):
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()

    def invoke(self, event, request_id=None, deadline_ms=None, body=None, headers=None):
        """Queues an invocation and returns its request id."""
        request_id = request_id or str(uuid.uuid4())
        if deadline_ms is None:
            deadline_ms = int(time.time() * 1000) + 30_000
        h = {
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:012345678912:function:fn",
            "Content-Type": "application/json",
        }
        h.update(headers or {})
        payload = body if body is not None else json.dumps(event).encode()
        self._pending.put(_Invocation(request_id, payload, h))
        return request_id

    def wait_posted(self, predicate, timeout=10):
        """Blocks until a POST matching predicate arrived and returns it."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for p in self._posted:
                    if predicate(p):
                        return p
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching post; got {self._posted!r}")
                self._cond.wait(left)

    def wait_result(self, request_id, timeout=10):
        return self.wait_posted(lambda p: p.request_id == request_id, timeout)

    def wait_init_error(self, timeout=10):
        return self.wait_posted(lambda p: p.kind == "init_error", timeout)

    def _record(self, posted):
        with self._cond:
            self._posted.append(posted)
            self._cond.notify_all()

    def _next(self):
        while not self._closed.is_set():
            try:
                return self._pending.get(timeout=0.1)
            except queue.Empty:
                continue
        return None

    def _handler_class(self):
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _strip_prefix(self):
                if not self.path.startswith(SESSION_PREFIX + "/"):
                    self._reply(403, b'{"errorType":"MissingSessionPrefix"}')
                    return False
                self.path = self.path[len(SESSION_PREFIX):]
                return True

            def do_GET(self):
                if not self._strip_prefix():
                    return None
                if self.path != f"{_BASE}/invocation/next":
                    return self._reply(404, b'{"errorType":"NotFound"}')
                inv = api._next()
                if inv is None:
                    return self._reply(500, b"closed")
                self._reply(200, inv.body, inv.headers)

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {k: v for k, v in self.headers.items()}
                if not self._strip_prefix():
                    return None
                parts = self.path.split("/")
                if self.path == f"{_BASE}/init/error":
                    api._record(Posted("init_error", None, headers, body))
                elif len(parts) == 6 and parts[3] == "invocation" and parts[5] in ("response", "error"):
                    request_id = urllib.parse.unquote(parts[4])
                    api._record(Posted(parts[5], request_id, headers, body))
                else:
                    return self._reply(404, b'{"errorType":"NotFound"}')
                self._reply(202, b'{"status":"OK"}')

            def _reply(self, status, body, headers=None):
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
