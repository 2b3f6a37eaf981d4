// label-routes: an alert router written in JavaScript. It sends each firing
// alert to the channels configured for the value of one label.
//
// Configuration (JSON):
//
//   {"label": "team",                                  // required
//    "routes": {"db": ["dba-pager"], "web": ["web-chat"]},
//    "default": ["ops-chat"],                          // no match: these ([] suppresses)
//    "min_severity": "warning",                        // quieter alerts are suppressed
//    "continue": false}                                // let the next router decide too

import { router, deliver, suppress, PluginError, SEVERITIES } from '@assay/plugin-sdk';

const KEYS = new Set(['label', 'routes', 'default', 'min_severity', 'continue']);

function channels(where, value) {
  if (!Array.isArray(value) || !value.every((c) => typeof c === 'string' && c)) {
    throw new PluginError(`${where}: expected a list of channel names`);
  }
  return value;
}

export function settings(config) {
  for (const key of Object.keys(config)) {
    if (!KEYS.has(key)) throw new PluginError(`unknown setting: ${key}`);
  }
  if (typeof config.label !== 'string' || !config.label) {
    throw new PluginError('label: the label to route by is required');
  }
  const routes = config.routes ?? {};
  if (typeof routes !== 'object' || Array.isArray(routes)) {
    throw new PluginError('routes: expected a table of label value = [channels]');
  }
  for (const [value, list] of Object.entries(routes)) channels(`routes.${value}`, list);
  const min = config.min_severity ?? 'info';
  if (!SEVERITIES.includes(min)) {
    throw new PluginError(`min_severity: "${min}" is not one of ${SEVERITIES.join(', ')}`);
  }
  return {
    label: config.label,
    routes,
    fallback: channels('default', config.default ?? []),
    min: SEVERITIES.indexOf(min),
    continueChain: Boolean(config.continue),
  };
}

export default router({
  prepare(config) {
    settings(config);
  },
  route(alert, config) {
    const s = settings(config);
    if (SEVERITIES.indexOf(alert.severity) < s.min) {
      return suppress(`${alert.severity} is below min_severity`);
    }
    const value = alert.labels[s.label];
    const to = (value !== undefined && s.routes[value]) || s.fallback;
    if (to.length === 0) {
      return suppress(`no route for ${s.label}=${value ?? '(unset)'} and no default`);
    }
    return deliver(...to, { continueChain: s.continueChain });
  },
});
