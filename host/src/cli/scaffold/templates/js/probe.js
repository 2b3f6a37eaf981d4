// {{name}}: an assay health probe, in JavaScript.
//
// It fetches `url` and passes on a 2xx answer, warns when the answer took
// longer than `warn_ms`, and fails otherwise. Config:
// {"url": "http://127.0.0.1:8080/health", "warn_ms": 500}. The operator
// must grant the host and port (`allow_http`): a probe reaches nothing else.

import { probe, pass, warn, fail, observation, PluginError } from '@assay/plugin-sdk';

export default probe(async (config) => {
  const { url, warn_ms: warnMs = 500 } = config;
  if (typeof url !== 'string' || !url) throw new PluginError('url: the address to check is required');
  const started = Date.now();
  let response;
  try {
    response = await fetch(url);
    await response.arrayBuffer();
  } catch (e) {
    return fail(`${url}: ${e.message}`);
  }
  const ms = Date.now() - started;
  const observed = [observation('status_code', response.status), observation('latency_seconds', ms / 1000, 'seconds')];
  if (!response.ok) return fail(`${url} answered ${response.status}`, ...observed);
  if (ms > warnMs) return warn(`${url} answered in ${ms} ms, slower than ${warnMs} ms`, ...observed);
  return pass(`${url} answered ${response.status} in ${ms} ms`, ...observed);
});
