"""Unit tests, natively: `python3 -m unittest` (no WebAssembly needed)."""

import tempfile
import unittest
from pathlib import Path

import assay_plugin as assay

import plugin


class Probe(unittest.TestCase):
    def test_pass_and_fail(self):
        with tempfile.TemporaryDirectory() as d:
            f = Path(d) / "heartbeat"
            f.write_text("ok")
            self.assertEqual(plugin.probe({"path": str(f)}).status, assay.Status.PASS)
            self.assertEqual(plugin.probe({"path": str(f), "min_bytes": 10}).status, assay.Status.FAIL)
            self.assertEqual(plugin.probe({"path": str(f) + ".missing"}).status, assay.Status.FAIL)

    def test_bad_config(self):
        with self.assertRaises(assay.PluginError):
            plugin.probe({})


if __name__ == "__main__":
    unittest.main()
