"""Functions of the background-work e2e test. Each writes what it got to
the table through unmodified boto3; CallerFunction calls another function
through boto3's Lambda client, whose endpoint the platform sets
(AWS_ENDPOINT_URL_LAMBDA)."""
import json
import os
import time
import urllib.parse
import uuid

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])


def slow(event, context):
    time.sleep(3)
    return {"statusCode": 200, "body": "slow"}


def put(item_id, event, **extra):
    item = {"id": item_id, "event": json.dumps(event)}
    item.update(extra)
    table.put_item(Item=item)


def tick(event, context):
    kind = event.get("kind") or event.get("detail-type", "unknown")
    print("tick", kind, json.dumps(event))
    put("tick-" + str(uuid.uuid4()), event, kind=kind)
    return {"ok": True}


def flaky(event, context):
    put("attempt-" + event["nonce"] + "-" + context.aws_request_id, event, nonce=event["nonce"])
    raise RuntimeError("flaky failure for " + event["nonce"])


def ok(event, context):
    return {"echo": event.get("nonce")}


def record(event, context):
    nonce = event["requestPayload"]["nonce"]
    condition = event["requestContext"]["condition"]
    put("record-" + nonce + "-" + condition + "-" + str(uuid.uuid4()), event, nonce=nonce)
    return {"stored": True}


def caller(event, context):
    nonce = event["pathParameters"]["nonce"]
    client = boto3.client("lambda")
    sync = client.invoke(FunctionName="OkFunction", Payload=json.dumps({"nonce": nonce + "-sync"}))
    answer = json.loads(sync["Payload"].read())
    queued = client.invoke(FunctionName="OkFunction", InvocationType="Event", Payload=json.dumps({"nonce": nonce + "-event"}))
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({
            "sync": answer,
            "sync_status": sync["StatusCode"],
            "event_status": queued["StatusCode"],
            "endpoint": os.environ.get("AWS_ENDPOINT_URL_LAMBDA", ""),
        }),
    }


def upload(event, context):
    for rec in event["Records"]:
        key = urllib.parse.unquote_plus(rec["s3"]["object"]["key"])
        put("upload-" + key + "-" + str(uuid.uuid4()), rec, nonce=key)
    return {"ok": True}


def notice(event, context):
    for rec in event["Records"]:
        message = json.loads(rec["body"])["Message"]
        put("notice-" + message + "-" + str(uuid.uuid4()), rec, nonce=message)
    return {}
