// Unit tests, natively: `npm test` (node --test; no WebAssembly needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import plugin from './plugin.js';

const route = (severity) => plugin.route({ name: 'DiskFull', status: 'firing', severity, labels: {} }, {});

test('routes by severity', () => {
  assert.deepEqual(route('critical').deliver, [{ channel: 'pager' }]);
  assert.deepEqual(route('warning').deliver, [{ channel: 'chat' }]);
  assert.ok('suppress' in route('info'));
});
