"""Unit tests, natively: `python3 -m unittest` (no WebAssembly needed)."""

import unittest

import assay_plugin as assay

import plugin


def check(text: str, level=assay.Level.STANDARD, **config):
    return plugin.validate(assay.Subject("t.txt", "text/plain", text.encode()), level, config)


class Validator(unittest.TestCase):
    def test_clean(self):
        self.assertEqual(check("short\nlines\n"), [])

    def test_empty(self):
        self.assertEqual([f.code for f in check("  \n")], ["text.empty"])

    def test_long_line_from_standard_on(self):
        long = "x" * 10
        self.assertEqual(check(long, assay.Level.MINIMAL, max_line=5), [])
        found = check(long, assay.Level.STANDARD, max_line=5)
        self.assertEqual([(f.code, f.path) for f in found], [("text.line_too_long", "/lines/1")])

    def test_bad_config(self):
        with self.assertRaises(assay.PluginError):
            plugin.check_config({"max_line": 0})


if __name__ == "__main__":
    unittest.main()
