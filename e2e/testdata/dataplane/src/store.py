"""Writes and reads an item and an object through unmodified boto3: the
platform points AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_S3 and the
credentials at its own services. Serves payload 1.0 and 2.0 routes."""
import base64
import json
import os

import boto3

table = boto3.resource("dynamodb").Table(os.environ["TABLE_NAME"])
s3 = boto3.client("s3")
BUCKET = os.environ["BUCKET_NAME"]


def respond(status, body):
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(body),
    }


def handler(event, context):
    payload = event.get("version", "1.0")
    if payload == "2.0":
        method = event["requestContext"]["http"]["method"]
    else:
        method = event["httpMethod"]
    item_id = event["pathParameters"]["id"]
    key = "objects/" + item_id

    if method == "PUT":
        raw = event.get("body") or "{}"
        if event.get("isBase64Encoded"):
            raw = base64.b64decode(raw).decode()
        value = json.loads(raw)["value"]
        table.put_item(Item={"id": item_id, "value": value, "payload": payload})
        s3.put_object(Bucket=BUCKET, Key=key, Body=value.encode())
        return respond(201, {"id": item_id, "payload": payload})

    item = table.get_item(Key={"id": item_id}).get("Item")
    try:
        obj = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    except s3.exceptions.NoSuchKey:
        obj = None
    if item is None and obj is None:
        return respond(404, {"message": "no item " + item_id})
    return respond(200, {"id": item_id, "item": item, "object": obj, "payload": payload})
