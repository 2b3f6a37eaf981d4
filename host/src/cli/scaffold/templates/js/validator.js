// {{name}}: an assay validator, in JavaScript.
//
// It checks that a text subject is not empty and, from the `standard` level
// on, that no line is longer than `max_line` characters (config, default
// 120). Replace the checks with yours; keep the codes stable.

import { validator, error, warning, Level, PluginError } from '@assay/plugin-sdk';

function maxLine(config) {
  const max = config.max_line ?? 120;
  if (!Number.isInteger(max) || max < 1) throw new PluginError('max_line: expected a positive integer');
  return max;
}

export default validator({
  // Runs when the host loads the plugin: a bad config is refused at once.
  prepare(config) {
    maxLine(config);
  },
  validate(subject, level, config) {
    const max = maxLine(config);
    const text = subject.text();
    if (!text.trim()) return [error('text.empty', 'the subject is empty')];
    const findings = [];
    if (level >= Level.STANDARD) {
      text.split('\n').forEach((line, i) => {
        if (line.length > max) {
          findings.push(warning('text.line_too_long', `line ${i + 1} has ${line.length} characters (max_line ${max})`, `/lines/${i + 1}`));
        }
      });
    }
    return findings;
  },
});
