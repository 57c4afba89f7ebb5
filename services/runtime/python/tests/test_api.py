"""The Runtime API client's HTTP against a raw socket server, for the
answers an HTTP/1.1 server may give that the fake (http.server) never does:
chunked bodies, bodies ended by the connection, a keep-alive connection
closed between requests, odd header case, interim 1xx answers."""

import socket
import threading
import unittest

from esb_lambda_runtime import api

NEXT = "/2018-06-01/runtime/invocation/next"


class Close:
    def __init__(self, data):
        self.data = data


class RawServer:
    """Accepts connections and answers each request with the next scripted
    reply (bytes), recording the raw requests. A reply of None closes the
    connection without answering; Close(reply) answers, then closes."""

    def __init__(self, replies, close_after_each=False):
        self._replies = list(replies)
        self._close_after_each = close_after_each
        self.requests = []
        self.connections = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self):
        return "127.0.0.1:%d/session" % self._sock.getsockname()[1]

    def close(self):
        self._sock.close()

    def _serve(self):
        while self._replies:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            # The reader holds the socket open too: both close.
            with conn, conn.makefile("rb") as f:
                while self._replies:
                    head = b""
                    while not head.endswith(b"\r\n\r\n"):
                        line = f.readline()
                        if not line:
                            break
                        head += line
                    if not head:
                        break
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":", 1)[1])
                    self.requests.append(head + f.read(length))
                    reply = self._replies.pop(0)
                    if reply is None:
                        break
                    if isinstance(reply, Close):
                        conn.sendall(reply.data)
                        break
                    conn.sendall(reply)
                    if self._close_after_each:
                        break


def next_reply(body, extra=b"", framing=None):
    framing = framing if framing is not None else b"Content-Length: %d\r\n" % len(body)
    return (
        b"HTTP/1.1 200 OK\r\n"
        b"lambda-runtime-aws-request-id: req-1\r\n"
        b"LAMBDA-RUNTIME-DEADLINE-MS: 1234\r\n"
        b"Content-Type: application/json\r\n" + extra + framing + b"\r\n" + body
    )


ACCEPTED = b"HTTP/1.1 202 Accepted\r\nContent-Length: 16\r\n\r\n{\"status\":\"OK\"}\n"


class ClientHTTPTest(unittest.TestCase):
    def serve(self, replies, **kw):
        server = RawServer(replies, **kw)
        self.addCleanup(server.close)
        client = api.RuntimeAPIClient(server.address)
        self.addCleanup(client.close)
        return server, client

    def test_headers_are_read_whatever_their_case(self):
        server, client = self.serve([next_reply(b'{"a":1}')])
        inv = client.next_invocation()
        self.assertEqual(inv.request_id, "req-1")
        self.assertEqual(inv.deadline_ms, 1234)
        self.assertEqual(inv.content_type, "application/json")
        self.assertEqual(inv.body, b'{"a":1}')
        self.assertIsNone(inv.trace_id)
        self.assertTrue(server.requests[0].startswith(b"GET /session" + NEXT.encode() + b" HTTP/1.1\r\n"))

    def test_chunked_body_with_extension_and_trailer(self):
        chunked = b"3;ext=1\r\n{\"a\r\n4\r\n\":1}\r\n0\r\nX-Trailer: t\r\n\r\n"
        _, client = self.serve([next_reply(chunked, framing=b"Transfer-Encoding: chunked\r\n")])
        self.assertEqual(client.next_invocation().body, b'{"a":1}')

    def test_body_ended_by_the_connection(self):
        server, client = self.serve([next_reply(b'{"b":2}', framing=b""), ACCEPTED], close_after_each=True)
        self.assertEqual(client.next_invocation().body, b'{"b":2}')
        self.assertEqual(client.post_response("req-1", b"{}"), 202)
        self.assertEqual(server.connections, 2)

    def test_keep_alive_reuses_one_connection(self):
        server, client = self.serve([next_reply(b"{}"), ACCEPTED, next_reply(b"{}")])
        client.next_invocation()
        client.post_response("req-1", b"{}")
        client.next_invocation()
        self.assertEqual(server.connections, 1)
        self.assertIn(b"Content-Length: 2\r\n\r\n{}", server.requests[1])

    def test_connection_close_header_opens_a_new_connection(self):
        server, client = self.serve([next_reply(b"{}", extra=b"Connection: close\r\n"), ACCEPTED], close_after_each=True)
        client.next_invocation()
        self.assertEqual(client.post_response("req-1", b"{}"), 202)
        self.assertEqual(server.connections, 2)

    def test_a_closed_keep_alive_connection_is_retried_once(self):
        # The server drops the connection when the second request arrives.
        server, client = self.serve([next_reply(b"{}"), None, ACCEPTED])
        client.next_invocation()
        self.assertEqual(client.post_response("req-1", b"{}"), 202)
        self.assertEqual(server.connections, 2)
        self.assertEqual(len(server.requests), 3)

    def test_a_new_connection_closed_before_the_answer_is_not_retried(self):
        # A /next the server took may have handed out its event: asking
        # again would take the next one and leave that one unanswered.
        server, client = self.serve([None, next_reply(b"{}")])
        with self.assertRaises(ConnectionError):
            client.next_invocation()
        self.assertEqual(len(server.requests), 1)

    def test_interim_answer_is_skipped(self):
        _, client = self.serve([b"HTTP/1.1 100 Continue\r\n\r\n" + ACCEPTED])
        self.assertEqual(client.post_response("req-1", b"{}"), 202)

    def test_truncated_body_is_an_error_and_not_sent_again(self):
        # Even on a connection that served before: the server answered.
        server, client = self.serve([ACCEPTED, Close(next_reply(b"{}", framing=b"Content-Length: 10\r\n")), next_reply(b"{}")])
        client.post_response("req-0", b"{}")
        with self.assertRaises(ConnectionError):
            client.next_invocation()
        self.assertEqual(len(server.requests), 2)

    def test_garbage_is_an_error_and_not_sent_again(self):
        server, client = self.serve([ACCEPTED, b"SSH-2.0-OpenSSH\r\n\r\n", next_reply(b"{}")])
        client.post_response("req-0", b"{}")
        with self.assertRaises(api.ProtocolError):
            client.next_invocation()
        self.assertEqual(len(server.requests), 2)

    def test_bad_chunk_sizes_are_errors(self):
        for size in (b"-1", b"0x2", b"1_0", b""):
            with self.subTest(size=size):
                body = size + b"\r\n{}\r\n0\r\n\r\n"
                _, client = self.serve([next_reply(body, framing=b"Transfer-Encoding: chunked\r\n")])
                with self.assertRaises(api.ProtocolError):
                    client.next_invocation()

    def test_request_id_is_quoted_in_the_path(self):
        server, client = self.serve([ACCEPTED])
        client.post_response("a b/ü~", b"{}")
        self.assertIn(b"/invocation/a%20b%2F%C3%BC~/response ", server.requests[0])

    def test_error_headers_carry_any_character(self):
        server, client = self.serve([ACCEPTED])
        client.post_error("req-1", {"errorType": "ValueError", "errorMessage": "x"}, xray_cause="naïve\r\nInjected: 1")
        head = server.requests[0].split(b"\r\n\r\n")[0]
        self.assertIn("Lambda-Runtime-Function-XRay-Error-Cause: naïve  Injected: 1".encode(), head)
        self.assertNotIn(b"\r\nInjected", head)


if __name__ == "__main__":
    unittest.main()
