"""Function logs on stdout, in the formats of AWS's Python runtime.

Text (default): "[LEVEL]\t<UTC time>.<ms>Z\t<request id>\t<message>".
JSON (AWS_LAMBDA_LOG_FORMAT=JSON): one object per record, fields as AWS.
The root logger level follows AWS_LAMBDA_LOG_LEVEL; unset, Python's default
(WARNING) stays, which is why logger.info() is silent on Lambda too.
"""

import json
import logging
import sys
import time
import traceback

TEXT_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
TEXT_DATEFMT = "%Y-%m-%dT%H:%M:%S"
JSON_DATEFMT = "%Y-%m-%dT%H:%M:%SZ"

# awslambdaric joins the lines of an error report with "\r" on stdout so one
# report stays one log line, and indents with no-break spaces.
_ERROR_LINE_JOIN = "\r"
_ERROR_INDENT = "\u00a0"

# AWS ends this with "\r" (its telemetry frames keep records apart); on a
# plain stdout that would glue the warning to the error report after it, so
# it ends with a newline here.
UNHANDLED_WARNING = (
    "LAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in "
    "the function code. However, in rare cases, a Lambda runtime update can "
    "cause unexpected function behavior. For functions using managed runtimes, "
    "runtime updates can be triggered by a function change, or can be applied "
    "automatically. To determine if the runtime has been updated, check the "
    "runtime version in the INIT_START log entry. If this error correlates with "
    "a change in the runtime version, you may be able to mitigate this error by "
    "temporarily rolling back to the previous runtime version. For more "
    "information, see https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html\n"
)

# Attributes of a LogRecord that are not user "extra" fields in JSON logs.
_RESERVED = {
    "name", "msg", "args", "levelname", "levelno", "pathname", "filename",
    "module", "exc_info", "exc_text", "stack_info", "lineno", "funcName",
    "created", "msecs", "relativeCreated", "thread", "threadName",
    "processName", "process", "taskName", "aws_request_id",
}


class RequestIdHolder:
    """The current invocation's request id, shared by the loop and the log
    filter (instead of a module global)."""

    def __init__(self):
        self.request_id = ""


class StdoutSink:
    """Writes log text to stdout, looked up per write so a test or a user that
    swaps sys.stdout still gets the output."""

    def write(self, text):
        sys.stdout.write(text)


class _RequestIdFilter(logging.Filter):
    def __init__(self, holder):
        super().__init__()
        self._holder = holder

    def filter(self, record):
        record.aws_request_id = self._holder.request_id
        return True


class _SinkHandler(logging.Handler):
    def __init__(self, sink):
        super().__init__()
        self._sink = sink

    def emit(self, record):
        try:
            text = self.format(record)
            # The text format ends in "\n", but an exception's traceback is
            # appended after it; keep one record ending in exactly a newline.
            if not text.endswith("\n"):
                text += "\n"
            self._sink.write(text)
        except Exception:
            self.handleError(record)


class JsonFormatter(logging.Formatter):
    """AWS's JSON log record: timestamp, level, message, logger, requestId,
    exception fields when present, plus any `extra` attributes."""

    def __init__(self):
        super().__init__(datefmt=JSON_DATEFMT)
        self.converter = time.gmtime

    def format(self, record):
        exc = record.exc_info
        result = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": logging.getLevelName(min(50, max(0, record.levelno)) // 10 * 10),
            "message": record.getMessage(),
            "logger": record.name,
            "stackTrace": traceback.format_tb(exc[2]) if exc else None,
            "errorType": exc[0].__name__ if exc else None,
            "errorMessage": str(exc[1]) if exc else None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": f"{record.pathname}:{record.funcName}:{record.lineno}" if exc else None,
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in result:
                result[key] = value
        result = {k: v for k, v in result.items() if v is not None}
        return json.dumps(result, ensure_ascii=False, default=str) + "\n"


def parse_level(value):
    """Maps AWS_LAMBDA_LOG_LEVEL to a logging level name, "" when unset or
    unknown. Lambda's TRACE has no Python equivalent and means DEBUG."""
    if not value:
        return ""
    name = value.upper()
    if name == "TRACE":
        name = "DEBUG"
    return name if name in logging.getLevelNamesMapping() else ""


def setup_logging(holder, sink, log_format, log_level):
    """Installs the Lambda handler on the root logger."""
    handler = _SinkHandler(sink)
    if log_format == "JSON":
        handler.setFormatter(JsonFormatter())
    else:
        formatter = logging.Formatter(TEXT_FORMAT, TEXT_DATEFMT)
        formatter.converter = time.gmtime
        handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter(holder))
    root = logging.getLogger()
    root.addHandler(handler)
    if log_level:
        root.setLevel(log_level)
    return handler


def log_error(sink, error, log_format):
    """Writes an error report ({errorType, errorMessage, stackTrace}) the way
    awslambdaric does for unhandled and init errors."""
    if log_format == "JSON":
        record = {
            "timestamp": time.strftime(JSON_DATEFMT, time.gmtime()),
            "log_level": "ERROR",
            **error,
        }
        sink.write(json.dumps(record) + "\n")
        return
    head = "[ERROR]"
    if error.get("errorType"):
        head += " " + error["errorType"]
    if error.get("errorMessage"):
        if error.get("errorType"):
            head += ":"
        head += " " + error["errorMessage"]
    lines = [head, "Traceback (most recent call last):"]
    for element in error.get("stackTrace") or []:
        if element == "":
            lines.append("")
            continue
        for line in element.splitlines():
            stripped = line.lstrip(" ")
            lines.append(_ERROR_INDENT * (len(line) - len(stripped)) + stripped)
    sink.write(_ERROR_LINE_JOIN.join(lines) + "\n")
