// Native unit tests: `node --test` (no WebAssembly needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import plugin from './plugin.js';

const config = { label: 'team', routes: { db: ['dba-pager', 'db-chat'] }, default: ['ops-chat'] };
const alert = (labels, severity = 'critical') => ({ name: 'DiskFull', status: 'firing', severity, labels });

test('routes by the label', () => {
  assert.deepEqual(plugin.route(alert({ team: 'db' }), config).deliver.map((d) => d.channel), ['dba-pager', 'db-chat']);
});

test('falls back to the default', () => {
  assert.deepEqual(plugin.route(alert({ team: 'web' }), config).deliver, [{ channel: 'ops-chat' }]);
  assert.deepEqual(plugin.route(alert({}), config).deliver, [{ channel: 'ops-chat' }]);
});

test('suppresses below min_severity, and without any route', () => {
  assert.ok('suppress' in plugin.route(alert({ team: 'db' }, 'info'), { ...config, min_severity: 'warning' }));
  assert.ok('suppress' in plugin.route(alert({ team: 'x' }), { label: 'team' }));
});

test('refuses a bad configuration', () => {
  assert.throws(() => plugin.prepare({ routes: {} }), /label/);
  assert.throws(() => plugin.prepare({ label: 'team', colour: 'red' }), /unknown setting: colour/);
});
