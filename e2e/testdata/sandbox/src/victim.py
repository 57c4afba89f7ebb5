"""The victim of the Runtime API hijack test: while its own invocation is in
flight it invokes the thief (ThiefFunction) with its container address and
its request id, so the thief can try to take or answer this invocation at
the gateway's Runtime API; then it answers with its own result, which the
caller must get."""

import json
import socket

import boto3


def own_address():
    # A UDP connect picks the source address without sending anything.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))
        return s.getsockname()[0]
    finally:
        s.close()


def handler(event, context):
    target = {"victim_ip": own_address(), "request_id": context.aws_request_id}
    out = boto3.client("lambda").invoke(FunctionName="ThiefFunction", Payload=json.dumps(target))
    return {
        "answer": "the victim's own",
        "request_id": context.aws_request_id,
        "victim_ip": target["victim_ip"],
        "thief": json.loads(out["Payload"].read()),
    }
