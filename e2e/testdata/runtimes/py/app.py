import os

VERSION = "1"


def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {
        "runtime": "python",
        "version": VERSION,
        "greeting": os.environ.get("GREETING"),
        "function_name": context.function_name,
        "request_id": context.aws_request_id,
        "remaining_positive": context.get_remaining_time_in_millis() > 0,
        "echo": event.get("echo"),
    }
