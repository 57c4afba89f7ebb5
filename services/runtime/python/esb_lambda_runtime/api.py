"""HTTP client for the Lambda Runtime API (2018-06-01)."""

import http.client
import json
import urllib.parse
from dataclasses import dataclass

_BASE = "/2018-06-01/runtime"
_ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
_XRAY_CAUSE_HEADER = "Lambda-Runtime-Function-XRay-Error-Cause"
# Lambda drops the X-Ray cause header above 1 MiB; awslambdaric sends "" then.
_MAX_XRAY_HEADER = 1024 * 1024


class RuntimeAPIError(Exception):
    """The Runtime API answered with an unexpected status."""

    def __init__(self, endpoint, status, body):
        super().__init__(
            f"runtime api {endpoint}: status {status}: {body[:512]!r}"
        )
        self.endpoint = endpoint
        self.status = status


@dataclass(frozen=True)
class Invocation:
    """One event as handed out by GET /runtime/invocation/next."""

    request_id: str
    deadline_ms: int
    function_arn: str | None
    trace_id: str | None
    client_context: str | None
    cognito_identity: str | None
    content_type: str | None
    body: bytes


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
        request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        if not request_id:
            raise RuntimeAPIError(endpoint, status, b"missing Lambda-Runtime-Aws-Request-Id")
        return Invocation(
            request_id=request_id,
            deadline_ms=_int_or_zero(headers.get("Lambda-Runtime-Deadline-Ms")),
            function_arn=headers.get("Lambda-Runtime-Invoked-Function-Arn"),
            trace_id=headers.get("Lambda-Runtime-Trace-Id"),
            client_context=headers.get("Lambda-Runtime-Client-Context"),
            cognito_identity=headers.get("Lambda-Runtime-Cognito-Identity"),
            content_type=headers.get("Content-Type"),
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
        # One retry on a fresh connection: a keep-alive socket the server has
        # closed only shows up when it is used.
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self._address)
            try:
                self._conn.request(method, self._prefix + endpoint, body=body, headers=headers or {})
                resp = self._conn.getresponse()
                data = resp.read()
                return resp.status, resp.headers, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._conn.close()
                self._conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


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


def _quote(request_id):
    return urllib.parse.quote(request_id, safe="")


def _int_or_zero(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
