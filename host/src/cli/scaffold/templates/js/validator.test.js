// Unit tests, natively: `npm test` (node --test; no WebAssembly needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Level } from '@assay/plugin-sdk';
import plugin from './plugin.js';

const check = (text, level = Level.STANDARD, config = {}) =>
  plugin.validate({ name: 't.txt', contentType: 'text/plain', data: new TextEncoder().encode(text), text: () => text }, level, config);

test('clean text passes', () => assert.deepEqual(check('short\nlines\n'), []));
test('empty is an error', () => assert.deepEqual(check('  ').map((f) => f.code), ['text.empty']));
test('long lines from standard on', () => {
  assert.deepEqual(check('x'.repeat(10), Level.MINIMAL, { max_line: 5 }), []);
  assert.deepEqual(check('x'.repeat(10), Level.STANDARD, { max_line: 5 }).map((f) => [f.code, f.path]), [['text.line_too_long', '/lines/1']]);
});
test('a bad config is refused', () => assert.throws(() => plugin.prepare({ max_line: 0 }), /max_line/));
