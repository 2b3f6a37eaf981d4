// The glue between a plugin's plain-JavaScript functions and the component's
// exports, in the shapes componentize-js gives WIT types (records as objects
// with camelCase fields, variants as `{ tag, val }`, enums as kebab-case
// strings, u64 as BigInt). Bundled only into the component, by `build.js`.

import { log as hostLog, sha256 as hostSha256 } from 'assay:plugin/host@0.1.0';
import { __install, LEVELS, SEVERITIES, STATUSES, PluginError } from './index.js';

__install({ log: (level, message) => hostLog(level, message), sha256: hostSha256 });

const big = (n) => (n === undefined || n === null ? undefined : BigInt(Math.trunc(Number(n))));
const num = (n) => (n === undefined || n === null ? undefined : Number(n));

function config(text) {
  if (!text.trim()) return {};
  let c;
  try {
    c = JSON.parse(text);
  } catch (e) {
    throw new PluginError(`the configuration is not JSON: ${e.message}`);
  }
  if (c === null || typeof c !== 'object' || Array.isArray(c)) {
    throw new PluginError('the configuration must be a JSON object');
  }
  return c;
}

// A `result<_, string>` export answers an error by throwing `{ payload }`;
// any other throw would trap. So every failure of the plugin's code,
// `PluginError` or a bug, becomes an error the operator can read.
function failure(e) {
  const message = e instanceof PluginError ? e.message : `${e?.name ?? 'Error'}: ${e?.message ?? e}`;
  if (!(e instanceof PluginError) && e?.stack) hostLog('error', String(e.stack).slice(0, 4000));
  return { payload: message };
}

function guard(fn) {
  try {
    return fn();
  } catch (e) {
    throw failure(e);
  }
}

// Probes may be async (`fetch`): componentize-js runs the event loop until
// an export's promise settles.
async function guardAsync(fn) {
  try {
    return await fn();
  } catch (e) {
    throw failure(e);
  }
}

function expect(kind, plugin) {
  if (!plugin || plugin.kind !== kind) {
    throw new Error(`the module's default export is not a ${kind}(...)`);
  }
}

function finding(f) {
  if (!f || !SEVERITIES.includes(f.severity)) {
    throw new PluginError(`a validator returns findings (error(...), warning(...)), not ${JSON.stringify(f)}`);
  }
  return { severity: f.severity, code: String(f.code), message: String(f.message), path: f.path ?? undefined };
}

export function validation(plugin, info) {
  expect('validator', plugin);
  return {
    info: () => info,
    validate(subject, level, cfg) {
      return guard(() => {
        const s = {
          name: subject.name,
          contentType: subject.contentType,
          data: subject.data,
          text: () => new TextDecoder('utf-8', { fatal: true }).decode(subject.data),
        };
        const answer = plugin.validate(s, LEVELS.indexOf(level), config(cfg));
        if (answer && typeof answer === 'object' && 'notApplicable' in answer) {
          return { tag: 'not-applicable', val: String(answer.notApplicable) };
        }
        return { tag: 'findings', val: (answer ?? []).map(finding) };
      });
    },
  };
}

export function probing(plugin, info) {
  expect('probe', plugin);
  return {
    info: () => info,
    probe(cfg) {
      return guardAsync(async () => {
        const out = await plugin.probe(config(cfg));
        if (!out || !STATUSES.includes(out.status)) {
          throw new PluginError(`a probe returns pass(...), warn(...) or fail(...), not ${JSON.stringify(out)}`);
        }
        return {
          status: out.status,
          message: String(out.message ?? ''),
          observations: (out.observations ?? []).map((o) => ({
            name: String(o.name),
            value: Number(o.value),
            unit: o.unit ?? undefined,
          })),
        };
      });
    },
  };
}

/** Routes `system` to the host's import (probes only: other worlds lack it). */
export function installSystem(system) {
  const call = (f) => (...args) => {
    try {
      return f(...args);
    } catch (e) {
      throw new PluginError(String(e?.payload ?? e));
    }
  };
  const stats = (s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, Number(v)]));
  __install({
    system: {
      diskUsage: (path) => stats(call(system.diskUsage)(path)),
      memoryUsage: () => stats(call(system.memoryUsage)()),
      loadAverage: () => stats(call(system.loadAverage)()),
      uptimeSeconds: () => Number(call(system.uptimeSeconds)()),
    },
  });
}

function alert(a) {
  return {
    name: a.name,
    status: a.status,
    severity: a.severity,
    summary: a.summary,
    description: a.description,
    labels: Object.fromEntries(a.labels),
    annotations: Object.fromEntries(a.annotations),
    source: a.source,
    fingerprint: a.fingerprint,
    startsAtMs: num(a.startsAtMs),
    endsAtMs: num(a.endsAtMs),
  };
}

export function routing(plugin, info) {
  expect('router', plugin);
  return {
    info: () => info,
    route(a, cfg) {
      return guard(() => {
        const d = plugin.route(alert(a), config(cfg));
        if (d && typeof d === 'object' && 'suppress' in d) {
          return { tag: 'suppress', val: String(d.suppress) };
        }
        if (!d || !Array.isArray(d.deliver)) {
          throw new PluginError(`a router returns deliver(...) or suppress(...), not ${JSON.stringify(d)}`);
        }
        return {
          tag: 'deliver',
          val: {
            to: d.deliver.map((x) => ({
              channel: String(x.channel),
              title: x.title ?? undefined,
              body: x.body ?? undefined,
              labels: Object.entries(x.labels ?? {}).map(([k, v]) => [String(k), String(v)]),
              repeatIntervalMs: big(x.repeatIntervalMs),
            })),
            continueChain: Boolean(d.continueChain),
          },
        };
      });
    },
  };
}

/** The world-level `prepare` of the prepared worlds. */
export function prepare(plugin) {
  return (cfg) => guard(() => void plugin.prepare?.(config(cfg)));
}
