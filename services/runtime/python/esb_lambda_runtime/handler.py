"""Resolving the handler string ("module.function") to a callable."""

import importlib
import sys

MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"


class FaultError(Exception):
    """A failure the runtime reports under a Runtime.* error type."""

    def __init__(self, error_type, message, trace=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


def load_handler(handler):
    """Imports the handler's module and returns the function.

    Same resolution as AWS: everything before the last dot names the module;
    slashes are path separators below the task root ("src/app.handler"
    imports src.app) and dots name packages ("pkg.mod.handler"). Errors
    raised by the module body itself propagate unchanged, so they are
    reported with their own exception type, as on Lambda.
    """
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise FaultError(MALFORMED_HANDLER_NAME, f"Bad handler '{handler}': {e}") from None

    if modname.split(".")[0] in sys.builtin_module_names:
        raise FaultError(
            BUILT_IN_MODULE_CONFLICT,
            f"Cannot use built-in module {modname} as a handler module",
        )
    try:
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise FaultError(
            IMPORT_MODULE_ERROR, f"Unable to import module '{modname}': {e}"
        ) from None
    except SyntaxError as e:
        trace = [f'  File "{e.filename}" Line {e.lineno}\n    {e.text}']
        raise FaultError(
            USER_CODE_SYNTAX_ERROR, f"Syntax error in module '{modname}': {e}", trace
        ) from None

    try:
        return getattr(module, fname)
    except AttributeError:
        raise FaultError(
            HANDLER_NOT_FOUND, f"Handler '{fname}' missing on module '{modname}'"
        ) from None
