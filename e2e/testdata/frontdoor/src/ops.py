import time

# What `esb invoke` and `esb logs` are checked with: a marker line in the
# log stream, memory the REPORT line must count, an error, a slow run.


def handler(event, context):
    print("ops-marker", event.get("marker"))
    blob = b"x" * (int(event.get("alloc_mb", 0)) << 20)
    if event.get("sleep"):
        time.sleep(float(event["sleep"]))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"echo": event.get("marker"), "runtime": "python", "requestId": context.aws_request_id, "allocated": len(blob)}
