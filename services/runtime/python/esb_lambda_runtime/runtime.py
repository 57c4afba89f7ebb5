"""The runtime loop: load the handler once, then serve invocations forever."""

import json
import os
import site
import sys
import traceback

from . import api, context, handler, logs, marshal

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

MARSHAL_ERROR = "Runtime.MarshalError"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"
CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"

# Environment variables the context object reads; captured once at start so
# handler code changing os.environ cannot change what context reports.
_FUNCTION_ENV_KEYS = (
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
)


class Config:
    """Everything the runtime takes from its command line and environment.
    (A plain class: importing dataclasses costs a cold start ~8 ms.)"""

    __slots__ = (
        "handler", "runtime_api", "task_root", "opt_dir", "pythonpath_set",
        "log_format", "log_level", "function_env",
    )

    def __init__(self, *, handler, runtime_api, task_root, opt_dir, pythonpath_set,
                 log_format, log_level, function_env):
        self.handler = handler  # str
        self.runtime_api = runtime_api  # str: host:port[/session prefix]
        self.task_root = task_root  # str
        self.opt_dir = opt_dir  # str: where layers are unpacked, /opt on Lambda
        self.pythonpath_set = pythonpath_set  # bool
        self.log_format = log_format  # "TEXT" or "JSON"
        self.log_level = log_level
        self.function_env = function_env  # dict


class ConfigError(Exception):
    """The runtime was started without what it needs."""


def config_from(argv, environ):
    """Builds the Config from argv (handler as first argument, else
    _HANDLER, as AWS's entrypoint exports it) and the environment."""
    handler_name = argv[1] if len(argv) > 1 else environ.get("_HANDLER", "")
    if not handler_name:
        raise ConfigError("no handler: pass it as the first argument or set _HANDLER")
    runtime_api = environ.get("AWS_LAMBDA_RUNTIME_API", "")
    if not runtime_api:
        raise ConfigError("AWS_LAMBDA_RUNTIME_API is not set")
    return Config(
        handler=handler_name,
        runtime_api=runtime_api,
        task_root=environ.get("LAMBDA_TASK_ROOT") or os.getcwd(),
        opt_dir=environ.get("ESB_RUNTIME_OPT_DIR") or "/opt",
        pythonpath_set="PYTHONPATH" in environ,
        log_format="JSON" if environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON" else "TEXT",
        log_level=logs.parse_level(environ.get("AWS_LAMBDA_LOG_LEVEL")),
        function_env={k: environ.get(k) for k in _FUNCTION_ENV_KEYS},
    )


def set_import_path(config):
    """Puts the function and its layers first on sys.path, like AWS:
    task root, then /opt/python/lib/pythonX.Y/site-packages, then /opt/python.
    A user-set PYTHONPATH replaces the layer defaults, as on Lambda. The
    runtime's own directory moves to the end so it never shadows user code."""
    here = os.path.dirname(_PACKAGE_DIR)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    layer_dirs = []
    if not config.pythonpath_set:
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        layer_dirs = [
            os.path.join(config.opt_dir, "python", "lib", version, "site-packages"),
            os.path.join(config.opt_dir, "python"),
        ]
    sys.path[0:0] = [config.task_root, *layer_dirs]
    sys.path.append(here)
    # addsitedir honours .pth files shipped with the function or a layer.
    for d in [config.task_root, *layer_dirs]:
        if os.path.isdir(d):
            site.addsitedir(d)


class Runtime:
    """Serves invocations of one handler against one Runtime API."""

    def __init__(self, config, client, sink, holder):
        self._config = config
        self._client = client
        self._sink = sink
        self._holder = holder
        self._handler = None

    def init(self):
        """Loads the handler; on failure reports an init error and returns
        False (the caller then exits non-zero, as Lambda expects)."""
        try:
            self._handler = handler.load_handler(self._config.handler)
            return True
        except handler.FaultError as e:
            error = _error(e.message, e.error_type, e.trace)
        except Exception:
            error = _error_from_exception(sys.exc_info())
        logs.log_error(self._sink, error, self._config.log_format)
        self._client.post_init_error(error)
        return False

    def serve_forever(self):
        while True:
            self.serve_one()

    def serve_one(self):
        inv = self._client.next_invocation()
        self._holder.request_id = inv.request_id
        if inv.trace_id is not None:
            os.environ["_X_AMZN_TRACE_ID"] = inv.trace_id
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)

        error, xray = None, None
        try:
            body, content_type = self._invoke(inv)
        except handler.FaultError as e:
            error = _error(e.message, e.error_type, e.trace, inv.request_id)
            xray = _xray_cause("LambdaValidationError", e.message, [])
        except Exception:
            exc_info = sys.exc_info()
            frames = _user_frames(exc_info[2])
            error = _error(
                str(exc_info[1]), exc_info[0].__name__,
                traceback.format_list(frames), inv.request_id,
            )
            xray = _xray_cause(exc_info[0].__name__, str(exc_info[1]), frames)

        if error is None:
            status = self._client.post_response(inv.request_id, body, content_type)
            if status != 202:
                sys.stderr.write(f"runtime api refused the response of {inv.request_id}: status {status}\n")
            return
        self._sink.write(logs.UNHANDLED_WARNING)
        logs.log_error(self._sink, error, self._config.log_format)
        self._client.post_error(inv.request_id, error, xray)

    def _invoke(self, inv):
        try:
            client_context = context.parse_json_header(inv.client_context, "Client Context")
            cognito = context.parse_json_header(inv.cognito_identity, "Cognito Identity")
        except context.ContextUnmarshalError as e:
            raise handler.FaultError(CONTEXT_UNMARSHAL_ERROR, str(e)) from None
        ctx = context.LambdaContext(
            inv, client_context, cognito, self._config.function_env, self._sink.write
        )
        try:
            event = marshal.unmarshal_event(inv.body, inv.content_type)
        except ValueError as e:
            raise handler.FaultError(UNMARSHAL_ERROR, f"Unable to unmarshal input: {e}") from None
        result = self._handler(event, ctx)
        try:
            return marshal.marshal_response(result)
        except marshal.MarshalError as e:
            raise handler.FaultError(MARSHAL_ERROR, str(e)) from None


def _error(message, error_type, trace, request_id=""):
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id,
        "stackTrace": trace or [],
    }


def _error_from_exception(exc_info):
    etype, value, tb = exc_info
    return _error(str(value), etype.__name__, traceback.format_list(_user_frames(tb)))


def _user_frames(tb):
    """The traceback without the runtime's own leading frames, so the report
    starts where user code does (awslambdaric drops its bootstrap.py)."""
    frames = traceback.extract_tb(tb)
    for i, frame in enumerate(frames):
        if not frame.filename.startswith(_PACKAGE_DIR + os.sep):
            return frames[i:]
    return frames


def _xray_cause(error_type, message, frames):
    stack = [{"label": f.name, "path": f.filename, "line": f.lineno} for f in frames]
    return json.dumps({
        "working_directory": os.getcwd(),
        "exceptions": [{"message": message, "type": error_type, "stack": stack}],
        "paths": sorted({f.filename for f in frames}),
    })


class _Unbuffered:
    """Flushes after every write so print() output reaches the container log
    at once even without python -u; AWS wraps stdout the same way."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        n = self._stream.write(text)
        self._stream.flush()
        return n

    def writelines(self, lines):
        self._stream.writelines(lines)
        self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def main(argv=None, environ=None):
    """Entry point; returns the process exit code."""
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    sys.stdout = _Unbuffered(sys.stdout)
    sys.stderr = _Unbuffered(sys.stderr)
    try:
        config = config_from(argv, environ)
    except ConfigError as e:
        sys.stderr.write(f"esb lambda runtime: {e}\n")
        return 2

    holder = logs.RequestIdHolder()
    sink = logs.StdoutSink()
    logs.setup_logging(holder, sink, config.log_format, config.log_level)
    set_import_path(config)
    client = api.RuntimeAPIClient(config.runtime_api)
    rt = Runtime(config, client, sink, holder)
    if not rt.init():
        return 1
    rt.serve_forever()
    return 0
