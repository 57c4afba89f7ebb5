import os
import sys

# Installed by the deploy from requirements.txt (a wheel the test built).
import esb_e2e_dep

if os.environ.get("INIT_FAIL") == "1":
    raise ValueError("init asked to fail")

ENV_KEYS = ("AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION")


def handler(event, context):
    print("e2e-marker", event.get("marker"))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {
        "language": "python " + sys.version.split()[0],
        "requestId": context.aws_request_id,
        "functionName": context.function_name,
        "memory": str(context.memory_limit_in_mb),
        "remaining": context.get_remaining_time_in_millis(),
        "env": {k: os.environ.get(k) for k in ENV_KEYS},
        "dep": esb_e2e_dep.greet("python"),
    }
