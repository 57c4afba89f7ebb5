import json
import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE"])


def handler(event, context):
    failures = []
    for record in event["Records"]:
        body = json.loads(record["body"])
        count = record["attributes"]["ApproximateReceiveCount"]
        if body.get("fail"):
            # Every attempt is written down, then reported as failed.
            table.put_item(Item={"id": "%s#%s" % (body["id"], count), "source": record["eventSource"]})
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        table.put_item(Item={"id": body["id"], "receives": count, "source": record["eventSourceARN"]})
    return {"batchItemFailures": failures}
