"""{{name}}: an assay validator, in Python.

It checks that a text subject is not empty and, from the `standard` level
on, that no line is longer than `max_line` characters (config, default 120).
Replace the checks with yours; keep the codes stable (people filter on them).
"""

import assay_plugin as assay


def _max_line(config: dict) -> int:
    max_line = config.get("max_line", 120)
    if not isinstance(max_line, int) or max_line < 1:
        raise assay.PluginError("max_line: expected a positive integer")
    return max_line


@assay.prepare
def check_config(config: dict) -> None:
    """Runs when the host loads the plugin: a bad config is refused at once."""
    _max_line(config)


@assay.validator
def validate(subject: assay.Subject, level: assay.Level, config: dict):
    max_line = _max_line(config)
    if not subject.data.strip():
        return [assay.error("text.empty", "the subject is empty")]
    findings = []
    if level >= assay.Level.STANDARD:
        for n, line in enumerate(subject.text.splitlines(), start=1):
            if len(line) > max_line:
                findings.append(assay.warning(
                    "text.line_too_long",
                    f"line {n} has {len(line)} characters (max_line {max_line})",
                    f"/lines/{n}",
                ))
    return findings
