"""The smallest useful function: a fixed proxy response."""


def handler(event, context):
    return {"statusCode": 200, "body": "ok"}
