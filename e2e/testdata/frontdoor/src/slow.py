import json
import time
import uuid

# One per runtime process, so per container: names the container that
# answered.
CONTAINER = uuid.uuid4().hex


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    seconds = float(query.get("sleep", "0"))
    time.sleep(seconds)
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"container": CONTAINER, "slept": seconds}),
    }
