// The Containers API through the official `openai` npm SDK: a container made with a file,
// files added by upload and by file id, listed (auto-paging), read back and deleted, and
// the container listed by name and deleted.
//
// Run by tests/test_node_containers.py. Environment:
//   THREADLINE_BASE_URL, THREADLINE_API_KEY  where and as whom
// Exits non-zero when any check fails.

import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import { env, makeClient } from './setup.mjs';


const client = makeClient();

const source = await client.files.create({
  file: await toFile(Buffer.from('a,b\n1,2\n'), 'table.csv'),
  purpose: 'user_data',
});
const container = await client.containers.create({
  name: 'node',
  file_ids: [source.id],
  expires_after: { anchor: 'last_active_at', minutes: 10 },
});
assert.match(container.id, /^cntr_/);
assert.equal(container.status, 'running');
assert.deepEqual(container.expires_after, { anchor: 'last_active_at', minutes: 10 });
assert.deepEqual(container.network_policy, { type: 'disabled' });
assert.deepEqual(await client.containers.retrieve(container.id), container);

const uploaded = await client.containers.files.create(container.id, {
  file: await toFile(Buffer.from('print("hi")\n'), 'script.py'),
});
assert.equal(uploaded.path, '/mnt/data/script.py');
assert.equal(uploaded.source, 'user');
const byId = await client.containers.files.create(container.id, { file_id: source.id });
assert.equal(byId.path, `/mnt/data/table-${byId.id}.csv`);

const seen = [];
for await (const file of client.containers.files.list(container.id, { limit: 1, order: 'asc' })) {
  seen.push(file.path);
}
assert.deepEqual(seen, ['/mnt/data/table.csv', '/mnt/data/script.py', byId.path]);
const content = await client.containers.files.content.retrieve(uploaded.id, {
  container_id: container.id,
});
assert.equal(await content.text(), 'print("hi")\n');
assert.deepEqual(
  await client.containers.files.retrieve(uploaded.id, { container_id: container.id }),
  uploaded,
);
await client.containers.files.delete(uploaded.id, { container_id: container.id });
await assert.rejects(
  client.containers.files.retrieve(uploaded.id, { container_id: container.id }),
  (error) => error instanceof OpenAI.NotFoundError,
);

await assert.rejects(
  client.containers.create({
    name: 'networked',
    network_policy: { type: 'allowlist', allowed_domains: ['example.com'] },
  }),
  (error) => error instanceof OpenAI.BadRequestError && error.param === 'network_policy',
);
const named = await client.containers.list({ name: 'node' });
assert.deepEqual(named.data.map((c) => c.id), [container.id]);
await client.containers.delete(container.id);
await assert.rejects(
  client.containers.retrieve(container.id),
  (error) => error instanceof OpenAI.NotFoundError,
);
console.log('all checks passed');
