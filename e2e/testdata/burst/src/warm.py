"""A trivial function: its latency shows what a burst elsewhere costs it."""


def handler(event, context):
    return {"statusCode": 200, "body": "warm"}
