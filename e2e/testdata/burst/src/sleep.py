"""A function whose work takes 200 ms: the burst benchmark's load."""

import time


def handler(event, context):
    time.sleep(0.2)
    return {"statusCode": 200, "body": "slept"}
