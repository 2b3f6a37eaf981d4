// @assay/plugin-sdk: write assay plugins in JavaScript.
//
// A plugin is one module whose default export is made by `validator`, `probe`
// or `router`:
//
//   import { router, deliver, suppress } from '@assay/plugin-sdk';
//   export default router((alert, config) =>
//     alert.labels.team === 'db' ? deliver('dba-pager') : deliver('ops-chat'));
//
// `npm run build` (the SDK's `assay-plugin-build`) compiles it, with its
// `plugin.toml`, into a WebAssembly component the assay host loads. The
// functions are plain JavaScript: unit-test them with `node --test`.

/** How deep a validator looks; compare with `<`, `>=`. */
export const Level = Object.freeze({ MINIMAL: 0, STANDARD: 1, COMPREHENSIVE: 2, FULL: 3 });
/** Level names as the contract spells them, by value. */
export const LEVELS = Object.freeze(['minimal', 'standard', 'comprehensive', 'full']);
export const SEVERITIES = Object.freeze(['info', 'warning', 'error', 'critical']);
export const STATUSES = Object.freeze(['pass', 'warn', 'fail']);

/** This call could not be done (bad configuration, an unexpected state). */
export class PluginError extends Error {
  constructor(message) {
    super(message);
    this.name = 'PluginError';
  }
}

function plugin(kind, spec, main) {
  const s = typeof spec === 'function' ? { [main]: spec } : { ...spec };
  if (typeof s[main] !== 'function') {
    throw new TypeError(`${kind}(...) takes a function, or an object with a ${main}() method`);
  }
  if (s.prepare !== undefined && typeof s.prepare !== 'function') {
    throw new TypeError(`${kind}(...): prepare must be a function`);
  }
  if (kind === 'probe' && s.prepare) {
    throw new TypeError('probes have no prepare (only validators and routers do)');
  }
  return Object.freeze({ kind, ...s });
}

/**
 * The module's validator: `validate(subject, level, config)` returns findings
 * (an array, possibly empty) or `notApplicable(reason)`. `subject` is
 * `{ name, contentType, data: Uint8Array, text() }`, `level` a `Level` value.
 * An optional `prepare(config)` runs when the host loads the plugin: throw a
 * `PluginError` to refuse a bad configuration at load.
 */
export const validator = (spec) => plugin('validator', spec, 'validate');
/** The module's health probe: `probe(config)` returns an outcome (`pass`, `warn`, `fail`). */
export const probe = (spec) => plugin('probe', spec, 'probe');
/**
 * The module's router: `route(alert, config)` returns `deliver(...)` or
 * `suppress(reason)`. `alert` is `{ name, status: 'firing'|'resolved',
 * severity, summary, description, labels: {}, annotations: {}, source,
 * fingerprint, startsAtMs, endsAtMs }`.
 */
export const router = (spec) => plugin('router', spec, 'route');

/** One problem found in a subject. `path`: a JSON Pointer, or any locator. */
export function finding(severity, code, message, path) {
  if (!SEVERITIES.includes(severity)) {
    throw new PluginError(`severity ${JSON.stringify(severity)} is not one of ${SEVERITIES.join(', ')}`);
  }
  return { severity, code: String(code), message: String(message), path: path ?? undefined };
}
export const info = (code, message, path) => finding('info', code, message, path);
export const warning = (code, message, path) => finding('warning', code, message, path);
export const error = (code, message, path) => finding('error', code, message, path);
export const critical = (code, message, path) => finding('critical', code, message, path);

/** The subject is not something this plugin checks. Not a failure. */
export const notApplicable = (reason) => ({ notApplicable: String(reason) });

/** A number a probe measured; the host exports it as a metric. */
export const observation = (name, value, unit) => ({ name, value: Number(value), unit });
export const pass = (message, ...observations) => ({ status: 'pass', message, observations });
export const warn = (message, ...observations) => ({ status: 'warn', message, observations });
export const fail = (message, ...observations) => ({ status: 'fail', message, observations });

/**
 * Deliver to channels, each a `[[channel]]` name or `{ channel, title, body,
 * labels, repeatIntervalMs }`. The last argument may be `{ continueChain: true }`
 * to let the next router decide as well.
 */
export function deliver(...to) {
  let continueChain = false;
  const last = to[to.length - 1];
  if (last && typeof last === 'object' && !('channel' in last)) {
    continueChain = Boolean(to.pop().continueChain);
  }
  return {
    deliver: to.map((d) => (typeof d === 'string' ? { channel: d } : { ...d })),
    continueChain,
  };
}
/** Send nothing for this alert; the reason is recorded with it. */
export const suppress = (reason) => ({ suppress: String(reason) });

// The host's services. Outside a component they fall back to plain
// JavaScript, so unit tests run anywhere; the component glue replaces them.
const services = {
  log: (level, message) => console.error(`[${level}] ${message}`),
  sha256: (data) => {
    // Node's own hash (no static import: the component build has no `node:` modules).
    const crypto = globalThis.process?.getBuiltinModule?.('node:crypto');
    if (!crypto) throw new PluginError('sha256 needs the host or Node.js >= 20.16');
    return new Uint8Array(crypto.createHash('sha256').update(data).digest());
  },
  system: null,
};
/** @internal The component glue installs the host's imports. */
export function __install(impl) {
  Object.assign(services, impl);
}
export const log = Object.freeze({
  trace: (m) => services.log('trace', String(m)),
  debug: (m) => services.log('debug', String(m)),
  info: (m) => services.log('info', String(m)),
  warn: (m) => services.log('warn', String(m)),
  error: (m) => services.log('error', String(m)),
});
/** SHA-256 of `data` (a Uint8Array), computed by the host. */
export function sha256(data) {
  return services.sha256(data);
}

function hostSystem(name) {
  return (...args) => {
    if (!services.system) {
      throw new PluginError('system statistics exist only inside the host (a probe granted allow_system)');
    }
    return services.system[name](...args);
  };
}
/**
 * Read-only system statistics, for probes granted `allow_system`; each
 * throws a `PluginError` naming the missing grant when it was not given.
 * Numbers are plain numbers (bytes, seconds). Tests may call
 * `__install({ system: {...} })` to stand in for the host.
 */
export const system = Object.freeze({
  diskUsage: hostSystem('diskUsage'),
  memoryUsage: hostSystem('memoryUsage'),
  loadAverage: hostSystem('loadAverage'),
  uptimeSeconds: hostSystem('uptimeSeconds'),
});
