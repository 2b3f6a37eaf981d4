// Unit tests, natively: `npm test` (node --test; Node's own fetch stands in
// for the host's).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import plugin from './plugin.js';

async function serve(status) {
  const server = createServer((_, res) => res.writeHead(status).end('ok'));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

test('a 2xx passes, a 5xx fails', async () => {
  for (const [status, expected] of [[200, 'pass'], [503, 'fail']]) {
    const { server, url } = await serve(status);
    try {
      assert.equal((await plugin.probe({ url })).status, expected);
    } finally {
      server.close();
    }
  }
});

test('a bad config is refused', async () => {
  await assert.rejects(async () => plugin.probe({}), /url/);
});
