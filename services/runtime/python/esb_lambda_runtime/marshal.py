"""Event decoding and result encoding, matching awslambdaric.

awslambdaric encodes with simplejson: Decimal values are written with their
exact digits (Decimal("1.10") -> 1.10, which DynamoDB code relies on),
namedtuples become objects, other tuples arrays. The standard library's json
cannot emit raw number text from a `default` hook, so this module carries a
small encoder of its own instead of a PyPI dependency.
"""

import decimal
import json
import math

_encode_str = json.encoder.encode_basestring_ascii


class MarshalError(Exception):
    """The handler's result cannot be turned into a response body."""


def unmarshal_event(body, content_type):
    """Decodes an event; non-JSON payloads are handed over as raw bytes."""
    if content_type is not None and content_type != "application/json":
        return body
    return json.loads(body)


def marshal_response(result):
    """Returns (body bytes, content type) for a handler result.

    bytes are passed through untouched with content type application/unknown,
    as awslambdaric does for the python3.12+ runtimes.
    """
    if isinstance(result, bytes):
        return result, "application/unknown"
    try:
        return to_json(result).encode("utf-8"), "application/json"
    except (TypeError, ValueError, RecursionError) as e:
        raise MarshalError(f"Unable to marshal response: {e}") from e


def to_json(value):
    """Encodes value as compact JSON text with simplejson's type rules."""
    parts = []
    _encode(value, parts, set())
    return "".join(parts)


def _encode(o, out, seen):
    if isinstance(o, str):
        out.append(_encode_str(o))
    elif o is None:
        out.append("null")
    elif o is True:
        out.append("true")
    elif o is False:
        out.append("false")
    elif isinstance(o, int):
        out.append(int.__repr__(o))
    elif isinstance(o, float):
        out.append(_float(o))
    elif isinstance(o, decimal.Decimal):
        # simplejson writes '-NaN' for a negative NaN, which no parser reads;
        # awslambdaric maps every NaN Decimal to the float NaN instead.
        out.append("NaN" if o.is_nan() else str(o))
    elif isinstance(o, (list, dict, tuple)) or _namedtuple_dict(o) is not None:
        _encode_container(o, out, seen)
    else:
        raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def _encode_container(o, out, seen):
    marker = id(o)
    if marker in seen:
        raise ValueError("Circular reference detected")
    seen.add(marker)
    as_dict = _namedtuple_dict(o)
    if as_dict is not None:
        o = as_dict
    if isinstance(o, dict):
        out.append("{")
        first = True
        for key, item in o.items():
            if not first:
                out.append(", ")
            first = False
            out.append(_encode_str(_key(key)))
            out.append(": ")
            _encode(item, out, seen)
        out.append("}")
    else:
        out.append("[")
        for i, item in enumerate(o):
            if i:
                out.append(", ")
            _encode(item, out, seen)
        out.append("]")
    seen.discard(marker)


def _namedtuple_dict(o):
    if not isinstance(o, tuple):
        return None
    asdict = getattr(o, "_asdict", None)
    return asdict() if callable(asdict) else None


def _key(key):
    if isinstance(key, str):
        return key
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, float):
        return _float(key)
    if isinstance(key, decimal.Decimal):
        return str(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


def _float(f):
    if math.isnan(f):
        return "NaN"
    if f == math.inf:
        return "Infinity"
    if f == -math.inf:
        return "-Infinity"
    return float.__repr__(f)
