// Responses and Conversations through the official `openai` npm SDK: a conversation with
// items, a response in it, a streamed one, a function round trip through
// previous_response_id, reads, input items and deletion; a container with a file, code in
// it streamed through the SDK's helper, the file it wrote downloaded; a compaction.
//
// Run by tests/test_node_responses.py. Environment:
//   THREADLINE_BASE_URL, THREADLINE_API_KEY  where and as whom
//   THREADLINE_MODEL_TEXT                    answers "Hello from the model."
//   THREADLINE_MODEL_TOOL                    calls get_weather({"city": "Paris"}), then
//                                            answers "It is 22C in Paris."
//   THREADLINE_MODEL_CODE                    runs code that prints the file n.txt doubled
//                                            and writes out.txt, then answers "Done."
//   THREADLINE_MODEL_SUMMARY                 answers "A summary."
// Exits non-zero when any check fails.

import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import { env, makeClient } from './setup.mjs';


const client = makeClient();

const WEATHER = {
  type: 'function',
  name: 'get_weather',
  parameters: { type: 'object', properties: { city: { type: 'string' } } },
  strict: false,
};

const conversation = await client.conversations.create({
  metadata: { from: 'node' },
  items: [{ type: 'message', role: 'user', content: 'Hello' }],
});
assert.match(conversation.id, /^conv_/);
assert.deepEqual(conversation.metadata, { from: 'node' });

const response = await client.responses.create({
  model: env('THREADLINE_MODEL_TEXT'),
  conversation: conversation.id,
  input: 'Say hello.',
});
assert.equal(response.status, 'completed');
assert.equal(response.output_text, 'Hello from the model.');
assert.equal(response.conversation.id, conversation.id);
assert.equal(response.usage.total_tokens, 30);

// Streamed, through the SDK's helper: the spec's events in order, and the final response.
const stream = client.responses.stream({ model: env('THREADLINE_MODEL_TEXT'), input: 'Again.' });
const types = [];
for await (const event of stream) types.push(event.type);
const streamed = await stream.finalResponse();
assert.equal(streamed.output_text, 'Hello from the model.');
assert.equal(types[0], 'response.created');
assert.equal(types.at(-1), 'response.completed');
assert.ok(types.includes('response.output_text.delta'));

const items = [];
for await (const item of client.conversations.items.list(conversation.id, { order: 'asc' })) {
  items.push(item);
}
assert.deepEqual(
  items.map((item) => [item.type, item.role]),
  [['message', 'user'], ['message', 'user'], ['message', 'assistant']],
);
assert.equal(items[2].content[0].type, 'output_text');

const called = await client.responses.create({
  model: env('THREADLINE_MODEL_TOOL'),
  input: 'Weather in Paris?',
  tools: [WEATHER],
});
const [call] = called.output;
assert.equal(call.type, 'function_call');
assert.equal(call.name, 'get_weather');
const answered = await client.responses.create({
  model: env('THREADLINE_MODEL_TOOL'),
  previous_response_id: called.id,
  tools: [WEATHER],
  input: [{ type: 'function_call_output', call_id: call.call_id, output: '22C' }],
});
assert.equal(answered.output_text, 'It is 22C in Paris.');
const inputs = await client.responses.inputItems.list(answered.id);
assert.equal(inputs.data[0].type, 'function_call_output');

const again = await client.responses.retrieve(answered.id);
assert.equal(again.id, answered.id);
await client.responses.delete(answered.id);
await assert.rejects(client.responses.retrieve(answered.id), OpenAI.NotFoundError);
const deleted = await client.conversations.delete(conversation.id);
assert.equal(deleted.deleted, true);

// code_interpreter in a container made here, with a file uploaded to it.
const container = await client.containers.create({ name: 'node' });
assert.match(container.id, /^cntr_/);
const uploaded = await client.containers.files.create(container.id, {
  file: await toFile(Buffer.from('21'), 'n.txt'),
});
assert.equal(uploaded.path, '/mnt/data/n.txt');
const codeStream = client.responses.stream({
  model: env('THREADLINE_MODEL_CODE'),
  input: 'Double it.',
  tools: [{ type: 'code_interpreter', container: container.id }],
  include: ['code_interpreter_call.outputs'],
});
const codeTypes = [];
for await (const event of codeStream) codeTypes.push(event.type);
const coded = await codeStream.finalResponse();
assert.ok(codeTypes.includes('response.code_interpreter_call_code.delta'));
assert.ok(codeTypes.includes('response.code_interpreter_call.interpreting'));
const [codeCall] = coded.output;
assert.equal(codeCall.type, 'code_interpreter_call');
assert.equal(codeCall.container_id, container.id);
assert.equal(codeCall.outputs[0].logs.trim(), '42');
const files = [];
for await (const file of client.containers.files.list(container.id)) files.push(file);
const written = files.find((file) => file.path === '/mnt/data/out.txt');
assert.equal(written.source, 'assistant');
const content = await client.containers.files.content.retrieve(written.id, {
  container_id: container.id,
});
assert.equal(await content.text(), '42');
assert.equal((await client.containers.delete(container.id)).deleted, true);

const compacted = await client.responses.compact({
  model: env('THREADLINE_MODEL_SUMMARY'),
  input: 'Remember: the code word is heron.',
});
assert.equal(compacted.output[0].type, 'compaction');

console.log('all checks passed');
