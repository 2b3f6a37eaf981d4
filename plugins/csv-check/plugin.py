"""csv-check: header and row checks for CSV subjects, written in Python.

Configuration (JSON, all optional):

    {"columns": ["id", "amount", "date"],   # must appear in the header
     "required": ["id"],                    # cells that may not be empty
     "types": {"amount": "number", "id": "integer", "date": "date"},
     "key": "id",                           # values that must be unique
     "delimiter": ","}

Levels: minimal checks the header; standard adds row widths and empty
required cells; comprehensive adds typed cells; full adds duplicate keys.
"""

import csv
import datetime
import io

import assay_plugin as assay

TYPES = ("number", "integer", "date")
CSV_TYPES = ("text/csv", "application/csv", "text/plain")


def _settings(config: dict) -> dict:
    columns = config.get("columns", [])
    required = config.get("required", [])
    types = config.get("types", {})
    key = config.get("key")
    delimiter = config.get("delimiter", ",")
    if not (isinstance(columns, list) and all(isinstance(c, str) for c in columns)):
        raise assay.PluginError("columns: expected a list of column names")
    if not (isinstance(required, list) and all(isinstance(c, str) for c in required)):
        raise assay.PluginError("required: expected a list of column names")
    if not isinstance(types, dict):
        raise assay.PluginError("types: expected a table of column = type")
    for column, kind in types.items():
        if kind not in TYPES:
            raise assay.PluginError(f"types.{column}: {kind!r} is not one of {', '.join(TYPES)}")
    if key is not None and not isinstance(key, str):
        raise assay.PluginError("key: expected a column name")
    if not (isinstance(delimiter, str) and len(delimiter) == 1):
        raise assay.PluginError("delimiter: expected one character")
    unknown = set(config) - {"columns", "required", "types", "key", "delimiter"}
    if unknown:
        raise assay.PluginError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    return {"columns": columns, "required": required, "types": types, "key": key, "delimiter": delimiter}


@assay.prepare
def check_config(config: dict) -> None:
    _settings(config)


def _typed(kind: str, value: str) -> bool:
    try:
        if kind == "integer":
            int(value)
        elif kind == "number":
            float(value)
        else:
            datetime.date.fromisoformat(value)
    except ValueError:
        return False
    return True


@assay.validator
def validate(subject: assay.Subject, level: assay.Level, config: dict):
    s = _settings(config)
    if subject.content_type not in CSV_TYPES and not subject.name.endswith(".csv"):
        return assay.not_applicable(f"{subject.content_type} is not CSV")
    rows = csv.reader(io.StringIO(subject.text, newline=""), delimiter=s["delimiter"])
    header = next(rows, None)
    if not header:
        return [assay.error("csv.empty", "the subject has no header row", "/header")]

    findings = []
    seen = set()
    for i, name in enumerate(header):
        if name in seen:
            findings.append(assay.error("csv.header_duplicate", f"column {name!r} appears twice", f"/header/{i}"))
        seen.add(name)
    for name in s["columns"]:
        if name not in seen:
            findings.append(assay.error("csv.column_missing", f"the header has no column {name!r}", "/header"))
    if level < assay.Level.STANDARD:
        return findings

    index = {name: i for i, name in reversed(list(enumerate(header)))}
    keys = {}
    for n, row in enumerate(rows, start=1):
        if not row:
            continue
        if len(row) != len(header):
            findings.append(assay.error(
                "csv.row_width", f"row {n} has {len(row)} fields, the header {len(header)}", f"/rows/{n}"))
            continue
        for name in s["required"]:
            if name in index and not row[index[name]].strip():
                findings.append(assay.error("csv.cell_empty", f"row {n}: {name} is empty", f"/rows/{n}/{name}"))
        if level >= assay.Level.COMPREHENSIVE:
            for name, kind in s["types"].items():
                value = row[index[name]].strip() if name in index else ""
                if value and not _typed(kind, value):
                    findings.append(assay.warning(
                        "csv.cell_type", f"row {n}: {name} = {value!r} is not a {kind}", f"/rows/{n}/{name}"))
        if level >= assay.Level.FULL and s["key"] in index:
            value = row[index[s["key"]]]
            if value in keys:
                findings.append(assay.error(
                    "csv.key_duplicate", f"row {n}: {s['key']} {value!r} repeats row {keys[value]}",
                    f"/rows/{n}/{s['key']}"))
            else:
                keys[value] = n
    return findings
