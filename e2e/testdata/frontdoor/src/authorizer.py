import uuid


def handler(event, context):
    # Every invocation gets its own id: a request served from the
    # gateway's authorizer cache carries the id of an earlier one.
    invocation = str(uuid.uuid4())
    if event.get("type") == "TOKEN":
        token = event["authorizationToken"]
        if token == "unauthorized":
            raise Exception("Unauthorized")
        effect = "Allow" if token.startswith("allow") else "Deny"
        return {
            "principalId": "user-" + token,
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}],
            },
            "context": {"invocation": invocation},
        }
    # HTTP API, payload 2.0, simple response.
    sources = event.get("identitySource") or [""]
    return {"isAuthorized": sources[0] == "let-me-in", "context": {"invocation": invocation, "routeArn": event.get("routeArn", "")}}
