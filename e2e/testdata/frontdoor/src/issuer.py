import json
import os

# An OpenID provider's two documents, as the gateway fetches them for a
# JWT authorizer whose issuer this function is. The test writes the keys
# (issuer_jwks.json) before the deploy; jwks.json of the env lacks them.
ISSUER = os.environ["ISSUER"]


def handler(event, context):
    path = event.get("rawPath") or ""
    if path.endswith("/.well-known/openid-configuration"):
        body = json.dumps({"issuer": ISSUER, "jwks_uri": ISSUER + "/jwks"})
    elif path.endswith("/jwks"):
        with open(os.path.join(os.path.dirname(__file__), "issuer_jwks.json")) as f:
            body = f.read()
    else:
        return {"statusCode": 404, "body": "not found"}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": body}
