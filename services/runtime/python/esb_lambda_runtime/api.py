"""HTTP client for the Lambda Runtime API (2018-06-01).

A small HTTP/1.1 client on a socket rather than http.client: importing
http.client takes a cold start about 25 ms of CPU (it loads ssl and the
email package), more than the rest of the runtime together, and the
Runtime API, plain HTTP on a local address, needs none of it. It reads
what any HTTP/1.1 server may answer: a Content-Length body, a chunked one,
or one that ends with the connection.
"""

import json
import socket

_BASE = "/2018-06-01/runtime"
_ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
_XRAY_CAUSE_HEADER = "Lambda-Runtime-Function-XRay-Error-Cause"
# Lambda drops the X-Ray cause header above 1 MiB; awslambdaric sends "" then.
_MAX_XRAY_HEADER = 1024 * 1024
# A status line or header longer than this is not the Runtime API talking.
_MAX_LINE = 64 * 1024
_MAX_HEADERS = 100


class RuntimeAPIError(Exception):
    """The Runtime API answered with an unexpected status."""

    def __init__(self, endpoint, status, body):
        super().__init__(
            f"runtime api {endpoint}: status {status}: {body[:512]!r}"
        )
        self.endpoint = endpoint
        self.status = status


class ProtocolError(ConnectionError):
    """The peer's answer is not HTTP/1.x as this client reads it."""


class _ClosedBeforeAnswer(ConnectionResetError):
    """The connection ended before the first byte of an answer: on a
    keep-alive connection, the server closed it while it sat idle."""


class Invocation:
    """One event as handed out by GET /runtime/invocation/next."""

    __slots__ = (
        "request_id", "deadline_ms", "function_arn", "trace_id",
        "client_context", "cognito_identity", "content_type", "body",
    )

    def __init__(self, request_id, deadline_ms, function_arn, trace_id,
                 client_context, cognito_identity, content_type, body):
        self.request_id = request_id  # str
        self.deadline_ms = deadline_ms  # int, Unix milliseconds
        self.function_arn = function_arn  # the rest: str or None
        self.trace_id = trace_id
        self.client_context = client_context
        self.cognito_identity = cognito_identity
        self.content_type = content_type
        self.body = body  # bytes

    def __repr__(self):
        return f"Invocation(request_id={self.request_id!r}, {len(self.body)} bytes)"


class RuntimeAPIClient:
    """Talks to the Runtime API at host:port over one keep-alive connection.

    The API is strictly sequential (next, then one result), so a single
    connection is enough; it is re-opened if the peer closed it. The address
    may carry a path (host:port/prefix): ESB's gateway names each container's
    session by it, so every call goes under it, as a URL built from the
    address by concatenation (aws-lambda-go, aws-lambda-cpp) would.
    """

    def __init__(self, address):
        host, _, path = address.partition("/")
        self._address = host
        self._prefix = "/" + path.strip("/") if path.strip("/") else ""
        self._conn = None

    def next_invocation(self):
        endpoint = f"{_BASE}/invocation/next"
        status, headers, body = self._request("GET", endpoint)
        if status != 200:
            raise RuntimeAPIError(endpoint, status, body)
        request_id = headers.get("lambda-runtime-aws-request-id")
        if not request_id:
            raise RuntimeAPIError(endpoint, status, b"missing Lambda-Runtime-Aws-Request-Id")
        return Invocation(
            request_id=request_id,
            deadline_ms=_int_or_zero(headers.get("lambda-runtime-deadline-ms")),
            function_arn=headers.get("lambda-runtime-invoked-function-arn"),
            trace_id=headers.get("lambda-runtime-trace-id"),
            client_context=headers.get("lambda-runtime-client-context"),
            cognito_identity=headers.get("lambda-runtime-cognito-identity"),
            content_type=headers.get("content-type"),
            body=body,
        )

    def post_response(self, request_id, body, content_type="application/json"):
        """Reports a result. Returns the status so the caller can log a refusal
        (413: response too large) without ending the process, as on Lambda."""
        endpoint = f"{_BASE}/invocation/{_quote(request_id)}/response"
        status, _, _ = self._request(
            "POST", endpoint, body, {"Content-Type": content_type}
        )
        return status

    def post_error(self, request_id, error, xray_cause=None):
        endpoint = f"{_BASE}/invocation/{_quote(request_id)}/error"
        status, _, _ = self._request(
            "POST", endpoint, _error_body(error), _error_headers(error, xray_cause)
        )
        return status

    def post_init_error(self, error):
        endpoint = f"{_BASE}/init/error"
        status, _, body = self._request(
            "POST", endpoint, _error_body(error), _error_headers(error, None)
        )
        if status != 202:
            raise RuntimeAPIError(endpoint, status, body)

    def _request(self, method, endpoint, body=None, headers=None):
        """Sends one request and returns (status, headers with lower-case
        names, body). A keep-alive connection the server has closed only
        shows up when it is used: when a connection that already served a
        response fails to take the request, or ends before the first byte
        of the answer, the request goes once more on a new one. Any other
        failure is raised: the server may have acted on the request (a
        /next whose event was handed out, a result it recorded), and
        sending it again would lose or repeat that."""
        message = _request_bytes(method, self._prefix + endpoint, self._address, body, headers)
        while True:
            if self._conn is None:
                self._conn = _Connection(self._address)
            reused = self._conn.served > 0
            try:
                self._conn.send(message)
                status, resp_headers, data, keep = self._conn.read_response(method)
            except _ClosedBeforeAnswer:
                self.close()
                if reused:
                    continue
                raise
            except OSError:
                # ConnectionError and ProtocolError included.
                self.close()
                raise
            if keep:
                self._conn.served += 1
            else:
                self.close()
            return status, resp_headers, data

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _Connection:
    """One TCP connection to host:port with a buffered reader."""

    def __init__(self, address):
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit():
            raise ValueError(f"runtime api address {address!r}: want host:port")
        self._sock = socket.create_connection((host.strip("[]"), int(port)))
        # Each request goes out in one send; Nagle would only delay the next.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._file = self._sock.makefile("rb")
        self.served = 0  # responses read on this connection

    def send(self, message):
        try:
            self._sock.sendall(message)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise _ClosedBeforeAnswer(f"runtime api closed the connection: {e}") from e

    def close(self):
        for c in (self._file, self._sock):
            try:
                c.close()
            except OSError:
                pass

    def _line(self):
        line = self._file.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE:
            raise ProtocolError("line too long")
        return line

    def read_response(self, method):
        """Returns (status, headers, body, keep_alive) of the next response,
        skipping interim 1xx ones."""
        while True:
            line = self._line()
            if not line:
                raise _ClosedBeforeAnswer("runtime api closed the connection without an answer")
            version, _, rest = line.partition(b" ")
            code = rest[:3]
            if not version.startswith(b"HTTP/1.") or not code.isdigit():
                raise ProtocolError(f"bad status line {line[:80]!r}")
            status = int(code)
            headers = self._headers()
            if status >= 200 or status == 101:
                break
        keep = version == b"HTTP/1.1"
        conn = headers.get("connection", "").lower()
        if "close" in conn:
            keep = False
        elif "keep-alive" in conn:
            keep = True
        if method == "HEAD" or 100 <= status < 200 or status in (204, 304):
            return status, headers, b"", keep
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return status, headers, self._chunked(), keep
        length = headers.get("content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                raise ProtocolError(f"bad Content-Length {length!r}") from None
            if n < 0:
                raise ProtocolError(f"bad Content-Length {length!r}")
            return status, headers, self._exactly(n), keep
        # Neither: the body ends with the connection.
        return status, headers, self._file.read(), False

    def _headers(self):
        headers = {}
        for _ in range(_MAX_HEADERS + 1):
            line = self._line()
            if line in (b"\r\n", b"\n"):
                return headers
            if not line:
                raise ConnectionResetError("runtime api closed the connection in the headers")
            name, sep, value = line.partition(b":")
            if not sep:
                raise ProtocolError(f"bad header line {line[:80]!r}")
            # The first of repeated fields wins, as with http.client's get().
            # Latin-1, as http.client decodes them: every byte maps.
            headers.setdefault(name.strip().lower().decode("latin-1"), value.strip().decode("latin-1"))
        raise ProtocolError("too many headers")

    def _exactly(self, n):
        data = self._file.read(n)
        if len(data) != n:
            raise ConnectionResetError(f"runtime api closed the connection after {len(data)} of {n} body bytes")
        return data

    def _chunked(self):
        parts = []
        while True:
            size_line = self._line().split(b";", 1)[0].strip()
            # int() alone would take "-1", "0x10" or "1_0".
            if not size_line or size_line.strip(b"0123456789abcdefABCDEF"):
                raise ProtocolError(f"bad chunk size {size_line[:20]!r}")
            size = int(size_line, 16)
            if size == 0:
                self._headers()  # trailers, up to the final blank line
                return b"".join(parts)
            parts.append(self._exactly(size))
            if self._line() not in (b"\r\n", b"\n"):
                raise ProtocolError("chunk not followed by CRLF")


def _request_bytes(method, path, host, body, headers):
    """The whole request, head and body, as one buffer. Header values go
    out as UTF-8 (an error message may hold any character)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    for name, value in (headers or {}).items():
        value = str(value)
        if "\r" in value or "\n" in value:
            value = value.replace("\r", " ").replace("\n", " ")
        lines.append(f"{name}: {value}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
    return head + body if body else head


def _error_body(error):
    return json.dumps(error).encode("utf-8")


def _error_headers(error, xray_cause):
    headers = {
        "Content-Type": "application/json",
        _ERROR_TYPE_HEADER: error.get("errorType") or "Unhandled",
    }
    if xray_cause and len(xray_cause.encode()) < _MAX_XRAY_HEADER:
        headers[_XRAY_CAUSE_HEADER] = xray_cause
    return headers


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _quote(request_id):
    """Percent-encodes all but RFC 3986's unreserved characters, as
    urllib.parse.quote(safe="") does (without importing it)."""
    return "".join(chr(b) if b in _UNRESERVED else f"%{b:02X}" for b in request_id.encode("utf-8"))


def _int_or_zero(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
