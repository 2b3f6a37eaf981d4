"""Native unit tests: `python3 -m unittest` (no WebAssembly needed)."""

import tempfile
import unittest
from pathlib import Path

import assay_plugin as assay

import plugin


class LogErrors(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.log = Path(self.dir.name) / "plugin.log"

    def tearDown(self):
        self.dir.cleanup()

    def probe(self, text, **config):
        self.log.write_text(text)
        return plugin.probe({"path": str(self.log), **config})

    def test_quiet_log_passes(self):
        out = self.probe("INFO start\nINFO ok\n")
        self.assertEqual(out.status, assay.Status.PASS)
        self.assertEqual(out.observations[0].value, 0)

    def test_thresholds(self):
        self.assertEqual(self.probe("ERROR a\n").status, assay.Status.WARN)
        self.assertEqual(self.probe("ERROR a\nFATAL b\n", fail_at=2).status, assay.Status.FAIL)

    def test_only_the_tail_counts(self):
        out = self.probe("ERROR old\n" + "INFO filler line\n" * 100, tail_bytes=200)
        self.assertEqual(out.status, assay.Status.PASS)

    def test_missing_file_fails(self):
        out = plugin.probe({"path": str(Path(self.dir.name) / "nope.log")})
        self.assertEqual(out.status, assay.Status.FAIL)
        self.assertIn("cannot read", out.message)

    def test_bad_config(self):
        with self.assertRaises(assay.PluginError):
            plugin.probe({"path": "/x", "pattern": "("})
        with self.assertRaises(assay.PluginError):
            plugin.probe({})


if __name__ == "__main__":
    unittest.main()
