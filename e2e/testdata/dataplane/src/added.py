"""Brought by the second deploy."""


def handler(event, context):
    return {"statusCode": 200, "body": "added"}
