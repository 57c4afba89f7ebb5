"""Answers with the name of the container (the Pod in kubernetes mode)
that ran the request, after working for ?ms= milliseconds."""

import json
import socket
import time


def handler(event, context):
    ms = int((event.get("queryStringParameters") or {}).get("ms", "0"))
    time.sleep(ms / 1000)
    return {"statusCode": 200, "body": json.dumps({"host": socket.gethostname()})}
