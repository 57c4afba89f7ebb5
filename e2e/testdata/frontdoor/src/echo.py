import json


def handler(event, context):
    rc = event.get("requestContext") or {}
    identity = rc.get("identity") or {}
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({
            "authorizer": rc.get("authorizer"),
            "apiKey": identity.get("apiKey"),
            "identity": {k: identity.get(k) for k in ("accessKey", "accountId", "caller", "user", "userArn")},
            "body": event.get("body"),
            # https when the request reached the gateway's HTTPS port.
            "forwardedProto": headers.get("x-forwarded-proto"),
        }),
    }
