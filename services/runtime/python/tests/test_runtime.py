"""Runs the real runtime client (a subprocess) against the fake Runtime API."""

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

from .fakeapi import FakeRuntimeAPI

HERE = os.path.dirname(os.path.abspath(__file__))
BOOTSTRAP = os.path.join(os.path.dirname(HERE), "bootstrap.py")
TASK_ROOT = os.path.join(HERE, "fixtures", "task")
OPT_DIR = os.path.join(HERE, "fixtures", "opt")


class RuntimeProcess:
    """The client under test, with its output captured in a temp file."""

    def __init__(self, api, handler, extra_env=None):
        self._out = tempfile.TemporaryFile()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "LAMBDA_TASK_ROOT": TASK_ROOT,
            "ESB_RUNTIME_OPT_DIR": OPT_DIR,
            "AWS_LAMBDA_FUNCTION_NAME": "fn",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
            "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]abc",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env.update(extra_env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-u", BOOTSTRAP, handler],
            cwd=TASK_ROOT, env=env, stdout=self._out, stderr=subprocess.STDOUT,
        )

    def output(self):
        self._out.seek(0)
        return self._out.read().decode("utf-8", "replace")

    def wait(self, timeout=10):
        return self.proc.wait(timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._out.close()


class RuntimeTestCase(unittest.TestCase):
    def setUp(self):
        self.api = FakeRuntimeAPI().start()
        self.addCleanup(self.api.close)

    def start(self, handler, extra_env=None):
        rt = RuntimeProcess(self.api, handler, extra_env)
        self.addCleanup(rt.stop)
        return rt

    def invoke(self, event, **kw):
        request_id = self.api.invoke(event, **kw)
        return self.api.wait_result(request_id)


class InvokeTest(RuntimeTestCase):
    def test_success_returns_json(self):
        self.start("app.echo")
        posted = self.invoke({"name": "esb"})
        self.assertEqual(posted.kind, "response")
        self.assertEqual(posted.headers.get("Content-Type"), "application/json")
        self.assertEqual(posted.json(), {"ok": True, "event": {"name": "esb"}})
        # simplejson's separators, as AWS's Python runtime answers.
        self.assertEqual(posted.body, b'{"ok": true, "event": {"name": "esb"}}')

    def test_warm_invocations_share_state(self):
        self.start("app.count")
        results = [self.invoke({}).json() for _ in range(3)]
        self.assertEqual([r["invocations"] for r in results], [1, 2, 3])
        self.assertEqual(len({r["pid"] for r in results}), 1)

    def test_marshals_decimal_namedtuple_tuple_like_awslambdaric(self):
        self.start("app.decimals")
        body = self.invoke({}).body.decode()
        self.assertIn('"price": 1.10', body)
        self.assertIn('"count": 3', body)
        self.assertIn('"nan": NaN', body)
        self.assertIn('"point": {"x": 1, "y": 2}', body)
        self.assertIn('"pair": [1, "a"]', body)
        self.assertIn('"unicode": "h\\u00e9llo"', body)
        self.assertIn('"7": "int key"', body)

    def test_unserialisable_result_is_marshal_error(self):
        rt = self.start("app.unserialisable")
        posted = self.invoke({})
        self.assertEqual(posted.kind, "error")
        err = posted.json()
        self.assertEqual(err["errorType"], "Runtime.MarshalError")
        self.assertEqual(err["errorMessage"], "Unable to marshal response: Object of type set is not JSON serializable")
        self.assertEqual(err["stackTrace"], [])
        self.assertEqual(posted.headers.get("Lambda-Runtime-Function-Error-Type"), "Runtime.MarshalError")
        # The process keeps serving after a marshal error.
        self.assertEqual(self.invoke({}).kind, "error")
        self.assertIsNone(rt.proc.poll())

    def test_bytes_pass_through_raw(self):
        self.start("app.raw_bytes")
        posted = self.invoke({})
        self.assertEqual(posted.kind, "response")
        self.assertEqual(posted.body, b"\x00raw")
        self.assertEqual(posted.headers.get("Content-Type"), "application/unknown")

    def test_handler_exception_is_reported_with_user_stack(self):
        rt = self.start("app.fail")
        request_id = self.api.invoke({"amount": 5})
        posted = self.api.wait_result(request_id)
        self.assertEqual(posted.kind, "error")
        err = posted.json()
        self.assertEqual(set(err), {"errorMessage", "errorType", "requestId", "stackTrace"})
        self.assertEqual(err["errorType"], "PaymentDeclined")
        self.assertEqual(err["errorMessage"], "card declined for 5")
        self.assertEqual(err["requestId"], request_id)
        self.assertTrue(err["stackTrace"])
        self.assertIn("in fail", err["stackTrace"][0], "stack must start at user code")
        self.assertIn("in _charge", err["stackTrace"][-1])
        self.assertTrue(all("esb_lambda_runtime" not in s for s in err["stackTrace"]))
        self.assertEqual(posted.headers.get("Lambda-Runtime-Function-Error-Type"), "PaymentDeclined")
        cause = json.loads(posted.headers["Lambda-Runtime-Function-XRay-Error-Cause"])
        self.assertEqual(cause["exceptions"][0]["type"], "PaymentDeclined")
        # The error is logged like AWS's runtime, one line per report.
        self.invoke({})
        out = rt.output()
        self.assertIn("[ERROR] PaymentDeclined: card declined for 5\rTraceback (most recent call last):\r", out)
        self.assertIn("LAMBDA_WARNING: Unhandled exception.", out)

    def test_invalid_event_json_is_unmarshal_error(self):
        self.start("app.echo")
        posted = self.invoke(None, body=b"{not json")
        self.assertEqual(posted.json()["errorType"], "Runtime.UnmarshalError")

    def test_non_json_event_is_passed_raw(self):
        self.start("app.echo")
        posted = self.invoke(None, body=b"plain", headers={"Content-Type": "text/plain"})
        self.assertEqual(posted.kind, "error", "bytes event echoed inside a dict cannot marshal")
        self.assertEqual(posted.json()["errorType"], "Runtime.MarshalError")


class ContextTest(RuntimeTestCase):
    def test_context_fields_and_remaining_time(self):
        self.start("app.describe_context")
        deadline = int(time.time() * 1000) + 5000
        cc = {"custom": {"k": "v"}, "env": {}, "client": {"installation_id": "inst-1"}}
        ident = {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}
        request_id = self.api.invoke({}, request_id="req-ctx-1", deadline_ms=deadline, headers={
            "Lambda-Runtime-Client-Context": json.dumps(cc),
            "Lambda-Runtime-Cognito-Identity": json.dumps(ident),
        })
        got = self.api.wait_result(request_id).json()
        self.assertEqual(got["function_name"], "fn")
        self.assertEqual(got["function_version"], "$LATEST")
        self.assertEqual(got["invoked_function_arn"], "arn:aws:lambda:us-east-1:012345678912:function:fn")
        # A string, as AWS's runtime reads it from AWS_LAMBDA_FUNCTION_MEMORY_SIZE.
        self.assertEqual(got["memory_limit_in_mb"], "256")
        self.assertEqual(got["aws_request_id"], "req-ctx-1")
        self.assertEqual(got["log_group_name"], "/aws/lambda/fn")
        self.assertEqual(got["log_stream_name"], "2026/01/01/[$LATEST]abc")
        self.assertEqual(got["cognito_identity_id"], "id-1")
        self.assertEqual(got["cognito_identity_pool_id"], "pool-1")
        self.assertEqual(got["client_context_custom"], {"k": "v"})
        self.assertEqual(got["client_installation_id"], "inst-1")
        first, second = got["remaining_first"], got["remaining_second"]
        self.assertLessEqual(first, 5000)
        self.assertGreater(first, 0)
        self.assertGreaterEqual(first - second, 40, "remaining time must go down while the handler runs")
        self.assertLessEqual(abs((deadline - got["now_ms"]) - second), 20, "remaining = deadline - now")

    def test_remaining_time_is_zero_past_deadline(self):
        self.start("app.describe_context")
        got = self.invoke({}, deadline_ms=int(time.time() * 1000) - 1000).json()
        self.assertEqual(got["remaining_first"], 0)
        self.assertIsNone(got["client_context_custom"])
        self.assertIsNone(got["cognito_identity_id"])

    def test_trace_id_env_is_set_per_invoke(self):
        self.start("app.trace_id")
        a = self.invoke({}, headers={"Lambda-Runtime-Trace-Id": "Root=1-aaa;Parent=1;Sampled=1"})
        self.assertEqual(a.json(), "Root=1-aaa;Parent=1;Sampled=1")
        b = self.invoke({}, headers={"Lambda-Runtime-Trace-Id": "Root=1-bbb;Parent=2;Sampled=0"})
        self.assertEqual(b.json(), "Root=1-bbb;Parent=2;Sampled=0")
        c = self.invoke({})
        self.assertIsNone(c.json(), "an invoke without trace id must not see the previous one")


class HandlerPathTest(RuntimeTestCase):
    def test_nested_path(self):
        self.start("src/handlers/nested.handler")
        self.assertEqual(self.invoke({}).json(), {"where": "src/handlers/nested", "module": "src.handlers.nested"})

    def test_dotted_package(self):
        self.start("pkg.mod.handler")
        self.assertEqual(self.invoke({}).json(), {"where": "pkg.mod", "module": "pkg.mod"})

    def test_layer_module_on_path(self):
        self.start("app.from_layer")
        self.assertEqual(self.invoke({}).json(), "hello from layer")


class InitErrorTest(RuntimeTestCase):
    cases = [
        ("missing module", "nosuchmodule.handler", "Runtime.ImportModuleError",
         "Unable to import module 'nosuchmodule': No module named 'nosuchmodule'"),
        ("missing dependency", "needs_missing_dep.handler", "Runtime.ImportModuleError",
         "Unable to import module 'needs_missing_dep': No module named 'a_dependency_nobody_installed'"),
        ("missing function", "app.nope", "Runtime.HandlerNotFound",
         "Handler 'nope' missing on module 'app'"),
        ("syntax error", "broken_syntax.handler", "Runtime.UserCodeSyntaxError",
         "Syntax error in module 'broken_syntax'"),
        ("no dot", "app", "Runtime.MalformedHandlerName",
         "Bad handler 'app': not enough values to unpack"),
        ("builtin module", "sys.handler", "Runtime.BuiltInModuleConflict",
         "Cannot use built-in module sys as a handler module"),
        ("error at import", "raises_at_import.handler", "KeyError", "'MISSING_SETTING'"),
    ]

    def test_init_errors(self):
        for name, handler, error_type, message in self.cases:
            with self.subTest(name):
                api = FakeRuntimeAPI().start()
                self.addCleanup(api.close)
                rt = RuntimeProcess(api, handler, {})
                self.addCleanup(rt.stop)
                posted = api.wait_init_error()
                err = posted.json()
                self.assertEqual(err["errorType"], error_type)
                self.assertTrue(err["errorMessage"].startswith(message), err["errorMessage"])
                self.assertEqual(posted.headers.get("Lambda-Runtime-Function-Error-Type"), error_type)
                self.assertNotEqual(rt.wait(), 0, "init failure must exit non-zero")
                self.assertIn(f"[ERROR] {error_type}: ", rt.output())

    def test_syntax_error_trace_names_the_file(self):
        rt = self.start("broken_syntax.handler")
        err = self.api.wait_init_error().json()
        self.assertIn("broken_syntax.py", err["stackTrace"][0])
        self.assertEqual(rt.wait(), 1)

    def test_import_time_exception_has_user_stack(self):
        rt = self.start("raises_at_import.handler")
        err = self.api.wait_init_error().json()
        self.assertTrue(any("raises_at_import.py" in s for s in err["stackTrace"]), err["stackTrace"])
        self.assertEqual(rt.wait(), 1)


class LoggingTest(RuntimeTestCase):
    def test_print_and_default_warning_level(self):
        rt = self.start("app.chatty")
        request_id = self.api.invoke({"n": 1})
        self.api.wait_result(request_id)
        self.api.wait_result(self.api.invoke({"n": 2}))
        out = rt.output()
        self.assertIn("hello from print 1\n", out)
        self.assertIn("hello from print 2\n", out)
        # Root level stays WARNING without AWS_LAMBDA_LOG_LEVEL, as on Lambda.
        self.assertNotIn("info via logging", out)
        line = next(l for l in out.splitlines() if "warning via logging" in l)
        level, ts, rid, msg = line.split("\t")
        self.assertEqual(level, "[WARNING]")
        self.assertRegex(ts, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(rid, request_id)
        self.assertEqual(msg, "warning via logging")

    def test_log_level_from_env(self):
        rt = self.start("app.chatty", {"AWS_LAMBDA_LOG_LEVEL": "info"})
        request_id = self.api.invoke({})
        self.api.wait_result(request_id)
        self.assertIn(f"[INFO]\t", rt.output())
        self.assertIn(f"\t{request_id}\tinfo via logging\n", rt.output())

    def test_json_log_format(self):
        rt = self.start("app.chatty", {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"})
        request_id = self.api.invoke({})
        self.api.wait_result(request_id)
        records = [json.loads(l) for l in rt.output().splitlines() if l.startswith("{")]
        info = next(r for r in records if r["message"] == "info via logging")
        self.assertEqual(info["level"], "INFO")
        self.assertEqual(info["requestId"], request_id)
        self.assertEqual(info["logger"], "root")


if __name__ == "__main__":
    unittest.main()
