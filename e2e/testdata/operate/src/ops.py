import json
import time


def handler(event, context):
    params = event.get("queryStringParameters") or {}
    if params.get("fail"):
        raise ValueError("asked to fail")
    if params.get("sleep"):
        time.sleep(float(params["sleep"]))
    print("ops answered", json.dumps(params))
    return {"statusCode": 200, "body": json.dumps({"ok": True})}
