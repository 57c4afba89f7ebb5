"""Invoked directly it echoes its event, raises on {"raise": msg} and writes
an object on {"put_object": {...}}; behind /echo it prints its ?marker= to
stdout, which the agent ships to the log store."""
import json
import os
import socket

import boto3

s3 = boto3.client("s3")


def handler(event, context):
    if "requestContext" in event:
        marker = (event.get("queryStringParameters") or {}).get("marker", "")
        print("echo marker " + marker, flush=True)
        return {"statusCode": 200, "body": json.dumps({"marker": marker})}
    if "raise" in event:
        raise ValueError(event["raise"])
    put = event.get("put_object")
    if put:
        s3.put_object(Bucket=os.environ["BUCKET_NAME"], Key=put["key"], Body=put["body"].encode())
    return {
        "echo": event,
        "function_name": context.function_name,
        "request_id": context.aws_request_id,
        "hostname": socket.gethostname(),
    }
