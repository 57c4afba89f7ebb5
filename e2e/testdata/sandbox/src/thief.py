"""The thief of the Runtime API hijack test: given another container's
address and the request id of the invocation that container is running
(event {"victim_ip", "request_id"}), it tries to take that container's next
event and to answer its invocation at the gateway's Runtime API, the way
hostile function code would: without the victim's secret (the path of the
victim's AWS_LAMBDA_RUNTIME_API, which it does not know), with a guessed
one, with its own, with the victim's address in forwarding headers, and
from the victim's address (a raw socket, or a TCP socket bound to that
address with IP_FREEBIND, which needs no capability). It reports what each
try got: an HTTP status, or an errno name."""

import errno
import http.client
import os
import secrets
import socket

IP_FREEBIND = 15  # linux/in.h


def call(host, port, method, path, body=None, headers=None, source=None, timeout=3.0):
    conn = http.client.HTTPConnection(host, port, timeout=timeout, source_address=source)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        return conn.getresponse().status
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e))
    finally:
        conn.close()


def raw_socket():
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP).close()
        return "opened"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e))


def freebind_connect(source_ip, host, port):
    """A TCP connect from the victim's address: the SYN may leave, but the
    answer goes to the victim, so no connection can come of it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3.0)
    try:
        s.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
        s.bind((source_ip, 0))
        s.connect((socket.gethostbyname(host), port))
        return "open"
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e))
    finally:
        s.close()


def handler(event, context):
    victim, rid = event["victim_ip"], event["request_id"]
    hostport, _, own_secret = os.environ["AWS_LAMBDA_RUNTIME_API"].partition("/")
    host, port = hostport.rsplit(":", 1)
    port = int(port)
    base = "/2018-06-01/runtime"
    guessed = "/" + secrets.token_hex(16)
    forwarded = {"X-Forwarded-For": victim, "X-Real-IP": victim, "Forwarded": "for=" + victim}
    answer = b'{"answer": "the thief\'s"}'
    out = {
        "raw_socket": raw_socket(),
        "freebind_connect": freebind_connect(victim, host, port),
        "next without secret": call(host, port, "GET", base + "/invocation/next"),
        "next with guessed secret": call(host, port, "GET", guessed + base + "/invocation/next"),
        "next forwarded for victim": call(host, port, "GET", base + "/invocation/next", headers=forwarded),
        "response without secret": call(host, port, "POST", base + "/invocation/" + rid + "/response", answer),
        "response with guessed secret": call(host, port, "POST", guessed + base + "/invocation/" + rid + "/response", answer),
        "response forwarded for victim": call(host, port, "POST", base + "/invocation/" + rid + "/response", answer, forwarded),
        "response with own secret": call(host, port, "POST", "/" + own_secret + base + "/invocation/" + rid + "/response", answer),
        "error without secret": call(host, port, "POST", base + "/invocation/" + rid + "/error", b"{}"),
        "error with own secret": call(host, port, "POST", "/" + own_secret + base + "/invocation/" + rid + "/error", b"{}"),
        "init error without secret": call(host, port, "POST", base + "/init/error", b"{}"),
    }
    return out
