"""Unit tests of the result encoder against the stdlib json for plain values."""

import decimal
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from esb_lambda_runtime import marshal  # noqa: E402


class ToJsonTest(unittest.TestCase):
    def test_plain_values_match_stdlib(self):
        values = [
            None, True, False, 0, -7, 2**70, 1.5, 1e-300, "", "a\"b\\c\n\u2603",
            [], {}, [1, [2, {"a": None}]], {"z": 1, "a": [True, 0.1]},
            {1: "x", 2.5: "y", True: "z", None: "n"},
        ]
        for v in values:
            with self.subTest(v=v):
                self.assertEqual(marshal.to_json(v), json.dumps(v))

    def test_decimal_keeps_digits(self):
        self.assertEqual(marshal.to_json([decimal.Decimal("1.10"), decimal.Decimal("-0.000")]), "[1.10, -0.000]")
        self.assertEqual(marshal.to_json(decimal.Decimal("-NaN")), "NaN")
        self.assertEqual(marshal.to_json({decimal.Decimal("2.0"): 1}), '{"2.0": 1}')

    def test_circular_reference_is_a_marshal_error(self):
        loop = []
        loop.append(loop)
        with self.assertRaisesRegex(marshal.MarshalError, "Circular reference"):
            marshal.marshal_response(loop)

    def test_shared_but_acyclic_values_are_fine(self):
        shared = [1]
        self.assertEqual(marshal.to_json([shared, shared]), "[[1], [1]]")

    def test_bad_key_type(self):
        with self.assertRaisesRegex(marshal.MarshalError, "keys must be str"):
            marshal.marshal_response({(1, 2): "x"})

    def test_non_json_content_type_event_is_raw(self):
        self.assertEqual(marshal.unmarshal_event(b"abc", "text/plain"), b"abc")
        self.assertEqual(marshal.unmarshal_event(b'{"a": 1}', "application/json"), {"a": 1})
        self.assertEqual(marshal.unmarshal_event(b'[1]', None), [1])


if __name__ == "__main__":
    unittest.main()
