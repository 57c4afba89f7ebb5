def handler(event, context):
    # HTTP API simple response: one token is let in. With ReauthorizeEvery
    # set, the gateway answers repeated calls with this token from its cache.
    sources = event.get("identitySource") or [""]
    return {"isAuthorized": sources[0] == "bench-token"}
