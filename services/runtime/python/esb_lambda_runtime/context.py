"""The context object handed to a Python handler, shaped as on AWS Lambda."""

import json
import sys
import time


class CognitoIdentity:
    """context.identity: always present, fields None without a Cognito caller."""

    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __init__(self, cognito_identity_id=None, cognito_identity_pool_id=None):
        self.cognito_identity_id = cognito_identity_id
        self.cognito_identity_pool_id = cognito_identity_pool_id

    def __repr__(self):
        return (
            f"CognitoIdentity([cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}])"
        )


class Client:
    """context.client_context.client (mobile SDK caller details)."""

    __slots__ = [
        "installation_id",
        "app_title",
        "app_version_name",
        "app_version_code",
        "app_package_name",
    ]

    def __repr__(self):
        fields = ",".join(f"{k}={getattr(self, k)}" for k in self.__slots__)
        return f"Client([{fields}])"


class ClientContext:
    """context.client_context: None unless the invoker sent one."""

    __slots__ = ["custom", "env", "client"]

    def __repr__(self):
        return f"ClientContext([custom={self.custom},env={self.env},client={self.client}])"


def _from_dict(cls, data):
    # Unknown keys are dropped and missing ones are None, as in awslambdaric.
    if data is None:
        return None
    obj = cls()
    for field in cls.__slots__:
        setattr(obj, field, data.get(field))
    return obj


class LambdaContext:
    """The handler's second argument.

    Static fields come from the function's environment (settled once per
    process), per-invoke ones from the invocation's headers. As in AWS's
    runtime, memory_limit_in_mb is the raw string of
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: code doing int(...) works on both.
    """

    def __init__(self, invocation, client_context, cognito_identity, function_env, log_writer=None):
        self.aws_request_id = invocation.request_id
        self.invoked_function_arn = invocation.function_arn
        self.function_name = function_env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = function_env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = function_env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = function_env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = function_env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.client_context = _from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _from_dict(Client, self.client_context.client)
        self.identity = CognitoIdentity()
        if cognito_identity is not None:
            self.identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            self.identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")
        self._deadline_ms = invocation.deadline_ms
        self._log_writer = log_writer

    def get_remaining_time_in_millis(self):
        remaining = self._deadline_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def log(self, msg):
        """Writes msg to the function's log as is (no newline added), like AWS."""
        if self._log_writer is not None:
            self._log_writer(str(msg))
        else:
            sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            "LambdaContext(["
            f"aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},"
            f"identity={self.identity}"
            "])"
        )


class ContextUnmarshalError(Exception):
    """A client-context or cognito-identity header is not valid JSON."""


def parse_json_header(value, name):
    """Decodes an optional JSON header; None when absent or empty."""
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError as e:
        raise ContextUnmarshalError(f"Unable to parse {name} JSON: {e}") from e
