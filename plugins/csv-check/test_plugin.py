"""Native unit tests: `python3 -m unittest` (no WebAssembly needed)."""

import unittest

import assay_plugin as assay

import plugin

CONFIG = {"columns": ["id", "amount"], "required": ["id"], "types": {"amount": "number"}, "key": "id"}


def run(text: str, level=assay.Level.FULL, config=CONFIG):
    return plugin.validate(assay.Subject("t.csv", "text/csv", text.encode()), level, config)


def codes(findings):
    return [f.code for f in findings]


class CsvCheck(unittest.TestCase):
    def test_clean(self):
        self.assertEqual(run("id,amount\n1,2.5\n2,3\n"), [])

    def test_missing_column(self):
        self.assertEqual(codes(run("id\n1\n", assay.Level.MINIMAL)), ["csv.column_missing"])

    def test_rows(self):
        found = run("id,amount\n1,x\n,2\n1,3\n4\n")
        self.assertEqual(codes(found), ["csv.cell_type", "csv.cell_empty", "csv.key_duplicate", "csv.row_width"])
        self.assertEqual(found[0].path, "/rows/1/amount")

    def test_levels(self):
        self.assertEqual(codes(run("id,amount\n1,x\n", assay.Level.STANDARD)), [])
        self.assertEqual(codes(run("id,amount\n1,x\n", assay.Level.COMPREHENSIVE)), ["csv.cell_type"])

    def test_not_csv(self):
        answer = plugin.validate(assay.Subject("x.json", "application/json", b"{}"), assay.Level.FULL, {})
        self.assertIsInstance(answer, assay.NotApplicable)

    def test_bad_config(self):
        with self.assertRaises(assay.PluginError):
            plugin.check_config({"types": {"amount": "money"}})


if __name__ == "__main__":
    unittest.main()
