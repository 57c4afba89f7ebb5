"""A function that listens on TCP 7777 (inbound traffic is not filtered):
the probe then tries to reach it by address, as one tenant's code would try
another's."""

import socket
import threading

PORT = 7777


def _serve():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", PORT))
    srv.listen(16)
    while True:
        conn, _ = srv.accept()
        conn.close()


threading.Thread(target=_serve, daemon=True).start()


def own_address():
    # A UDP connect picks the source address without sending anything.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))
        return s.getsockname()[0]
    finally:
        s.close()


def handler(event, context):
    ip = own_address()
    # The listener is up: the peer reaches itself (local traffic is allowed).
    c = socket.create_connection((ip, PORT), timeout=2)
    c.close()
    return {"ip": ip, "port": PORT}
