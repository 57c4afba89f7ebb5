import json
import os


def handler(event, context):
    # The whole event back, and the URL the template gave this function
    # (!GetAtt <Function>Url.FunctionUrl), so the test sees both.
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "Access-Control-Allow-Origin": "https://from-function"},
        "body": json.dumps({"event": event, "openUrl": os.environ.get("OPEN_URL")}),
    }
