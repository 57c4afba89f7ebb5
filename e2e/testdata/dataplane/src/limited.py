"""Takes a while, and reports its container and when it ran, so the test
can count distinct containers and overlapping executions."""
import json
import socket
import time


def handler(event, context):
    start = time.time()
    time.sleep(0.15)
    end = time.time()
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"hostname": socket.gethostname(), "start": start, "end": end}),
    }
