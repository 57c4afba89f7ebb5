"""Exits its process without answering when asked to; otherwise names its
container (the hostname Docker gives it) and its process."""
import json
import os
import socket
import uuid

PROCESS_ID = uuid.uuid4().hex  # new for every runtime process


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    if query.get("crash") == "1":
        print("crashing on purpose", flush=True)
        os._exit(1)
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"hostname": socket.gethostname(), "process_id": PROCESS_ID}),
    }
