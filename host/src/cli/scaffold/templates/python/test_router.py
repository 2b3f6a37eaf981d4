"""Unit tests, natively: `python3 -m unittest` (no WebAssembly needed)."""

import unittest

import assay_plugin as assay

import plugin


def route(severity):
    return plugin.route(assay.Alert("DiskFull", severity), {})


class Router(unittest.TestCase):
    def test_routes_by_severity(self):
        self.assertEqual(route(assay.Severity.CRITICAL), assay.deliver("pager"))
        self.assertEqual(route(assay.Severity.WARNING), assay.deliver("chat"))
        self.assertIsInstance(route(assay.Severity.INFO), assay.Suppress)


if __name__ == "__main__":
    unittest.main()
