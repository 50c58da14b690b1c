// Threadline through the official `openai` npm SDK: every method of assistants, threads,
// messages, runs, run steps and files, once bare and once with every optional parameter.
//
// Run by tests/test_node_sdk.py, which starts the server and seeds a thread with runs, steps
// and messages (the run engine does not create them yet). Environment:
//   THREADLINE_BASE_URL, THREADLINE_API_KEY        where and as whom
//   THREADLINE_ASSISTANT_ID, THREADLINE_FILE_ID    the seeded assistant and file
//   THREADLINE_THREAD_ID                           the seeded thread, holding:
//   THREADLINE_USER_MESSAGE_ID                     a user message (no run)
//   THREADLINE_EARLIER_RUN_ID, THREADLINE_RUN_ID   two completed runs, in that order
//   THREADLINE_FIRST_STEP_ID                       RUN's first step (a code_interpreter call)
//   THREADLINE_STEP_ID                             RUN's next step (a file_search call)
//   THREADLINE_MESSAGE_STEP_ID                     RUN's later message_creation step
//   THREADLINE_RUN_MESSAGE_ID                      the assistant message that step created
//   THREADLINE_SEARCH_CONTENT                      the text of the file_search result
// Exits non-zero when any check fails, after printing every failure.

import assert from 'node:assert/strict';
import OpenAI, { toFile } from 'openai';
import { env, makeClient } from './setup.mjs';


const seed = {
  assistantId: env('THREADLINE_ASSISTANT_ID'),
  fileId: env('THREADLINE_FILE_ID'),
  threadId: env('THREADLINE_THREAD_ID'),
  userMessageId: env('THREADLINE_USER_MESSAGE_ID'),
  earlierRunId: env('THREADLINE_EARLIER_RUN_ID'),
  runId: env('THREADLINE_RUN_ID'),
  firstStepId: env('THREADLINE_FIRST_STEP_ID'),
  stepId: env('THREADLINE_STEP_ID'),
  messageStepId: env('THREADLINE_MESSAGE_STEP_ID'),
  runMessageId: env('THREADLINE_RUN_MESSAGE_ID'),
  searchContent: env('THREADLINE_SEARCH_CONTENT'),
};

const client = makeClient();

const INCLUDE_CONTENT = 'step_details.tool_calls[*].file_search.results[*].content';

// Every key of the spec's objects (assistants-openapi.yaml, components.schemas) that is sent
// whatever the object holds; the spec's optional, non-nullable keys are left out when empty
// (OPTIONAL), never sent as null.
const KEYS = {
  assistant: [
    'id', 'object', 'created_at', 'name', 'description', 'model', 'instructions', 'tools',
    'tool_resources', 'metadata', 'temperature', 'top_p', 'response_format',
  ],
  thread: ['id', 'object', 'created_at', 'tool_resources', 'metadata'],
  message: [
    'id', 'object', 'created_at', 'thread_id', 'status', 'incomplete_details', 'completed_at',
    'incomplete_at', 'role', 'content', 'assistant_id', 'run_id', 'attachments', 'metadata',
  ],
  run: [
    'id', 'object', 'created_at', 'thread_id', 'assistant_id', 'status', 'required_action',
    'last_error', 'expires_at', 'started_at', 'cancelled_at', 'failed_at', 'completed_at',
    'incomplete_details', 'model', 'instructions', 'tools', 'metadata', 'usage', 'temperature',
    'top_p', 'max_prompt_tokens', 'max_completion_tokens', 'truncation_strategy', 'tool_choice',
    'parallel_tool_calls', 'response_format',
  ],
  step: [
    'id', 'object', 'created_at', 'assistant_id', 'thread_id', 'run_id', 'type', 'status',
    'step_details', 'last_error', 'expired_at', 'cancelled_at', 'failed_at', 'completed_at',
    'metadata', 'usage',
  ],
  file: ['id', 'object', 'bytes', 'created_at', 'filename', 'purpose', 'status'],
  deleted: ['id', 'object', 'deleted'],
  list: ['object', 'data', 'first_id', 'last_id', 'has_more'],
  error: ['message', 'type', 'param', 'code'],
};
const OPTIONAL = { file: ['expires_at', 'status_details'] };

// -- helpers ---------------------------------------------------------------------------------

const failures = [];

async function check(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (err) {
    failures.push(name);
    const detail = String(err?.stack ?? err)
      .split('\n')
      .map((line) => `       ${line}`)
      .join('\n');
    console.log(`FAIL ${name}\n${detail}`);
  }
}

function hasKeys(obj, keys, what) {
  assert.deepEqual(Object.keys(obj).sort(), [...keys].sort(), `keys of ${what}`);
}

function isId(value, prefix) {
  assert.equal(typeof value, 'string', `id ${value}`);
  assert.ok(
    value.startsWith(prefix) && value.length > prefix.length,
    `${value} starts with ${prefix}`,
  );
}

function isTimestamp(value) {
  assert.ok(Number.isInteger(value), `timestamp ${value} is an integer`);
  const now = Math.floor(Date.now() / 1000);
  assert.ok(Math.abs(now - value) < 3600, `timestamp ${value} is close to now (${now})`);
}

/** The raw list envelope, as the server sent it: every key of the spec's list object. */
function checkEnvelope(page, { hasMore }) {
  const body = page.body;
  hasKeys(body, KEYS.list, 'list page');
  assert.equal(body.object, 'list');
  assert.equal(page.has_more, hasMore, 'has_more');
  assert.equal(body.has_more, hasMore, 'raw has_more');
  // Required strings in the spec, empty on an empty page.
  assert.equal(body.first_id, page.data.length ? page.data[0].id : '', 'first_id');
  assert.equal(body.last_id, page.data.length ? page.data.at(-1).id : '', 'last_id');
}

const ids = (items) => items.map((item) => item.id);

async function collect(iterable) {
  const out = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** Awaits `promise`, which must fail with `Class`, an OpenAI-shaped error body and `status`. */
async function rejects(promise, Class, status, expected = {}) {
  let error;
  try {
    const value = await promise;
    assert.fail(`expected ${Class.name}, but the call succeeded with ${JSON.stringify(value)}`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    error = err;
  }
  assert.ok(
    error instanceof Class,
    `expected ${Class.name}, got ${error?.constructor?.name}: ${error?.message}`,
  );
  assert.ok(error instanceof OpenAI.APIError);
  assert.equal(error.status, status);
  hasKeys(error.error, KEYS.error, 'error body');
  assert.equal(error.error.type, 'invalid_request_error');
  assert.equal(typeof error.error.message, 'string');
  assert.ok(error.error.message.length > 0);
  assert.equal(error.type, error.error.type);
  assert.equal(error.param, error.error.param);
  assert.equal(error.code, error.error.code);
  assert.match(error.headers.get('content-type') ?? '', /^application\/json/);
  assert.equal(error.message, `${status} ${error.error.message}`);
  for (const [key, value] of Object.entries(expected)) {
    if (value instanceof RegExp) assert.match(error.error[key] ?? '', value, `error.${key}`);
    else assert.equal(error.error[key], value, `error.${key}`);
  }
  return error;
}

function notFound(promise, kind, id) {
  return rejects(promise, OpenAI.NotFoundError, 404, {
    message: `No ${kind} found with id '${id}'.`,
    param: null,
    code: null,
  });
}

function badRequest(promise, param, code) {
  return rejects(promise, OpenAI.BadRequestError, 400, { param, code });
}

// -- the flows ---------------------------------------------------------------------------------

const FUNCTION_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    strict: true,
  },
};

const state = {};
// Every live assistant and file of the project, oldest first.
const assistants = [seed.assistantId];
const files = [seed.fileId];

async function fileFlows() {
  const text = 'Threadline notes\nline two\n';
  const binary = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

  await check('files.create: bare (file and purpose only)', async () => {
    const file = await client.files.create({
      file: await toFile(Buffer.from(text), 'notes.txt'),
      purpose: 'assistants',
    });
    hasKeys(file, KEYS.file, 'file');
    isId(file.id, 'file-');
    assert.equal(file.object, 'file');
    assert.equal(file.bytes, Buffer.byteLength(text));
    assert.equal(file.filename, 'notes.txt');
    assert.equal(file.purpose, 'assistants');
    assert.equal(file.status, 'processed');
    assert.equal(file.status_details, undefined);
    assert.equal(file.expires_at, undefined);
    isTimestamp(file.created_at);
    state.file = file;
    files.push(file.id);
  });

  await check('files.create: every option (expires_after)', async () => {
    const file = await client.files.create({
      file: await toFile(binary, 'bytes.bin', { type: 'application/octet-stream' }),
      purpose: 'user_data',
      expires_after: { anchor: 'created_at', seconds: 3600 },
    });
    hasKeys(file, [...KEYS.file, 'expires_at'], 'file');
    isId(file.id, 'file-');
    assert.equal(file.bytes, 256);
    assert.equal(file.filename, 'bytes.bin');
    assert.equal(file.purpose, 'user_data');
    assert.equal(file.expires_at, file.created_at + 3600);
    state.binaryFile = file;
    files.push(file.id);
  });

  await check('files.create: bad purpose is a BadRequestError', async () => {
    await badRequest(
      client.files.create({ file: await toFile(Buffer.from('x'), 'x.txt'), purpose: 'bogus' }),
      'purpose',
      'invalid_value',
    );
  });

  await check('files.retrieve', async () => {
    assert.deepEqual(await client.files.retrieve(state.file.id), state.file);
    assert.deepEqual(await client.files.retrieve(state.binaryFile.id), state.binaryFile);
  });

  await check('files.content returns the exact bytes', async () => {
    const response = await client.files.content(state.file.id);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), text);
    const raw = await client.files.content(state.binaryFile.id);
    assert.deepEqual(Buffer.from(await raw.arrayBuffer()), binary);
  });

  await check('files.list: bare', async () => {
    const page = await client.files.list();
    assert.deepEqual(ids(page.data), [...files].reverse());
    checkEnvelope(page, { hasMore: false });
    for (const file of page.data) {
      const given = OPTIONAL.file.filter((key) => key in file && file[key] !== null);
      hasKeys(file, [...KEYS.file, ...given], 'listed file');
    }
    assert.deepEqual(
      page.data.find((file) => file.id === state.file.id),
      state.file,
    );
  });

  await check('files.list: every option (purpose, limit, order, after)', async () => {
    const page = await client.files.list({
      purpose: 'assistants',
      limit: 1,
      order: 'asc',
      after: seed.fileId,
    });
    assert.deepEqual(ids(page.data), [state.file.id]);
    checkEnvelope(page, { hasMore: false });
    const others = await client.files.list({ purpose: 'user_data', limit: 5, order: 'desc' });
    assert.deepEqual(ids(others.data), [state.binaryFile.id]);
    const first = await client.files.list({ purpose: 'assistants', limit: 1, order: 'asc' });
    assert.deepEqual(ids(first.data), [seed.fileId]);
    checkEnvelope(first, { hasMore: true });
  });

  await check('files.list: bad limit is a BadRequestError', async () => {
    await badRequest(client.files.list({ limit: 0 }), 'limit', 'integer_below_min_value');
  });

  await check('files.delete, then 404 as NotFoundError', async () => {
    const deleted = await client.files.delete(state.binaryFile.id);
    hasKeys(deleted, KEYS.deleted, 'deleted file');
    assert.deepEqual(deleted, { id: state.binaryFile.id, object: 'file', deleted: true });
    files.splice(files.indexOf(state.binaryFile.id), 1);
    await notFound(client.files.retrieve(state.binaryFile.id), 'file', state.binaryFile.id);
    await notFound(client.files.content(state.binaryFile.id), 'file', state.binaryFile.id);
    await notFound(client.files.delete(state.binaryFile.id), 'file', state.binaryFile.id);
    assert.deepEqual(ids((await client.files.list()).data), [...files].reverse());
  });
}

async function assistantFlows() {
  await check('assistants.create: bare (model only)', async () => {
    const assistant = await client.beta.assistants.create({ model: 'gpt-4o' });
    hasKeys(assistant, KEYS.assistant, 'assistant');
    isId(assistant.id, 'asst_');
    assert.equal(assistant.object, 'assistant');
    isTimestamp(assistant.created_at);
    assert.equal(assistant.model, 'gpt-4o');
    assert.equal(assistant.name, null);
    assert.equal(assistant.description, null);
    assert.equal(assistant.instructions, null);
    assert.deepEqual(assistant.tools, []);
    assert.deepEqual(assistant.metadata, {});
    assert.equal(assistant.temperature, 1);
    assert.equal(assistant.top_p, 1);
    assert.equal(assistant.response_format, 'auto');
    state.bare = assistant;
    assistants.push(assistant.id);
  });

  await check('assistants.create: every option', async () => {
    const responseFormat = {
      type: 'json_schema',
      json_schema: {
        name: 'answer',
        description: 'The answer',
        schema: { type: 'object', properties: { x: { type: 'number' } } },
        strict: true,
      },
    };
    const assistant = await client.beta.assistants.create({
      model: 'gpt-4.1',
      name: 'Math Tutor',
      description: 'Helps with maths',
      instructions: 'You are a personal math tutor.',
      reasoning_effort: 'low',
      tools: [
        { type: 'code_interpreter' },
        {
          type: 'file_search',
          file_search: {
            max_num_results: 7,
            ranking_options: { ranker: 'auto', score_threshold: 0.5 },
          },
        },
        FUNCTION_TOOL,
      ],
      tool_resources: { code_interpreter: { file_ids: [state.file.id] } },
      metadata: { team: 'maths', level: '2' },
      temperature: 0.2,
      top_p: 0.5,
      response_format: responseFormat,
    });
    hasKeys(assistant, KEYS.assistant, 'assistant');
    isId(assistant.id, 'asst_');
    assert.equal(assistant.model, 'gpt-4.1');
    assert.equal(assistant.name, 'Math Tutor');
    assert.equal(assistant.description, 'Helps with maths');
    assert.equal(assistant.instructions, 'You are a personal math tutor.');
    assert.deepEqual(assistant.tools, [
      { type: 'code_interpreter' },
      {
        type: 'file_search',
        file_search: {
          max_num_results: 7,
          ranking_options: { ranker: 'auto', score_threshold: 0.5 },
        },
      },
      FUNCTION_TOOL,
    ]);
    assert.deepEqual(assistant.tool_resources.code_interpreter, { file_ids: [state.file.id] });
    assert.deepEqual(assistant.metadata, { team: 'maths', level: '2' });
    assert.equal(assistant.temperature, 0.2);
    assert.equal(assistant.top_p, 0.5);
    assert.equal(assistant.response_format.type, 'json_schema');
    assert.equal(assistant.response_format.json_schema.name, 'answer');
    assert.deepEqual(
      assistant.response_format.json_schema.schema,
      responseFormat.json_schema.schema,
    );
    assert.equal(assistant.response_format.json_schema.strict, true);
    state.full = assistant;
    assistants.push(assistant.id);
  });

  await check('assistants.create: bad parameter is a BadRequestError', async () => {
    await badRequest(
      client.beta.assistants.create({ model: 'gpt-4o', temperature: 2.5 }),
      'temperature',
      'decimal_above_max_value',
    );
    await badRequest(
      client.beta.assistants.create({
        model: 'gpt-4o',
        tool_resources: { code_interpreter: { file_ids: ['file-nope'] } },
      }),
      'tool_resources.code_interpreter.file_ids[0]',
      null,
    );
  });

  await check('assistants.retrieve', async () => {
    assert.deepEqual(await client.beta.assistants.retrieve(state.bare.id), state.bare);
    assert.deepEqual(await client.beta.assistants.retrieve(state.full.id), state.full);
  });

  await check('assistants.update: bare changes nothing', async () => {
    assert.deepEqual(await client.beta.assistants.update(state.full.id, {}), state.full);
    assert.deepEqual(await client.beta.assistants.retrieve(state.full.id), state.full);
  });

  await check('assistants.update: every option', async () => {
    const updated = await client.beta.assistants.update(state.bare.id, {
      model: 'gpt-4o-mini',
      name: 'Renamed',
      description: 'New description',
      instructions: 'Be brief.',
      reasoning_effort: 'high',
      tools: [FUNCTION_TOOL, { type: 'code_interpreter' }],
      tool_resources: { code_interpreter: { file_ids: [state.file.id] } },
      metadata: { v: '2' },
      temperature: 1.5,
      top_p: 0.1,
      response_format: { type: 'json_object' },
    });
    hasKeys(updated, KEYS.assistant, 'assistant');
    assert.equal(updated.id, state.bare.id);
    assert.equal(updated.created_at, state.bare.created_at);
    assert.equal(updated.model, 'gpt-4o-mini');
    assert.equal(updated.name, 'Renamed');
    assert.equal(updated.description, 'New description');
    assert.equal(updated.instructions, 'Be brief.');
    assert.deepEqual(updated.tools, [FUNCTION_TOOL, { type: 'code_interpreter' }]);
    assert.deepEqual(updated.tool_resources.code_interpreter, { file_ids: [state.file.id] });
    assert.deepEqual(updated.metadata, { v: '2' });
    assert.equal(updated.temperature, 1.5);
    assert.equal(updated.top_p, 0.1);
    assert.deepEqual(updated.response_format, { type: 'json_object' });
    assert.deepEqual(await client.beta.assistants.retrieve(state.bare.id), updated);
    // Metadata is replaced as a whole, and an empty object clears it.
    const cleared = await client.beta.assistants.update(state.bare.id, { metadata: {} });
    assert.deepEqual(cleared.metadata, {});
    assert.equal(cleared.name, 'Renamed');
    state.bare = cleared;
  });

  await check('assistants.list: bare (newest first)', async () => {
    const page = await client.beta.assistants.list();
    assert.deepEqual(ids(page.data), [...assistants].reverse());
    checkEnvelope(page, { hasMore: false });
    for (const assistant of page.data) hasKeys(assistant, KEYS.assistant, 'listed assistant');
    assert.deepEqual(
      page.data.find((assistant) => assistant.id === state.full.id),
      state.full,
    );
  });

  await check('assistants.list: every option (limit, order, after, before)', async () => {
    const [seeded, bare, full] = assistants;
    const page = await client.beta.assistants.list({
      limit: 1,
      order: 'asc',
      after: seeded,
      before: full,
    });
    assert.deepEqual(ids(page.data), [bare]);
    checkEnvelope(page, { hasMore: false });
    const limited = await client.beta.assistants.list({ limit: 2, order: 'asc', after: seeded });
    assert.deepEqual(ids(limited.data), [bare, full]);
    const more = await client.beta.assistants.list({ limit: 1, order: 'desc', before: seeded });
    assert.deepEqual(ids(more.data), [bare]);
    checkEnvelope(more, { hasMore: true });
  });

  await check('assistants.list: bad order is a BadRequestError', async () => {
    await badRequest(client.beta.assistants.list({ order: 'sideways' }), 'order', 'invalid_value');
    await badRequest(
      client.beta.assistants.list({ limit: 101 }),
      'limit',
      'integer_above_max_value',
    );
  });

  await check('assistants.list: auto-pagination over 7 assistants, 3 a page', async () => {
    const made = [];
    for (let i = 0; i < 7; i++) {
      const assistant = await client.beta.assistants.create({ model: 'gpt-4o', name: `page-${i}` });
      made.push(assistant.id);
      assistants.push(assistant.id);
    }
    const ascending = await collect(
      client.beta.assistants.list({ limit: 3, order: 'asc', after: state.full.id }),
    );
    assert.deepEqual(ids(ascending), made);
    assert.deepEqual(
      ascending.map((assistant) => assistant.name),
      made.map((_, i) => `page-${i}`),
    );
    // Every live assistant, newest first, over several pages.
    const first = await client.beta.assistants.list({ limit: 3 });
    const pages = [];
    for await (const page of first.iterPages()) pages.push(ids(page.data));
    assert.equal(pages.length, Math.ceil(assistants.length / 3));
    assert.ok(pages.every((page) => page.length <= 3));
    assert.deepEqual(pages.flat(), [...assistants].reverse());
    assert.deepEqual(ids(await collect(client.beta.assistants.list({ limit: 3 }))), [
      ...assistants,
    ].reverse());
  });

  await check('assistants.delete, then 404 as NotFoundError', async () => {
    const deleted = await client.beta.assistants.delete(state.bare.id);
    hasKeys(deleted, KEYS.deleted, 'deleted assistant');
    assert.deepEqual(deleted, { id: state.bare.id, object: 'assistant.deleted', deleted: true });
    assistants.splice(assistants.indexOf(state.bare.id), 1);
    await notFound(client.beta.assistants.retrieve(state.bare.id), 'assistant', state.bare.id);
    await notFound(
      client.beta.assistants.update(state.bare.id, { name: 'x' }),
      'assistant',
      state.bare.id,
    );
    await notFound(client.beta.assistants.delete(state.bare.id), 'assistant', state.bare.id);
    assert.deepEqual(
      ids(await collect(client.beta.assistants.list({ limit: 100 }))),
      [...assistants].reverse(),
    );
  });
}

async function threadFlows() {
  await check('threads.create: bare (no body)', async () => {
    const thread = await client.beta.threads.create();
    hasKeys(thread, KEYS.thread, 'thread');
    isId(thread.id, 'thread_');
    assert.equal(thread.object, 'thread');
    isTimestamp(thread.created_at);
    assert.deepEqual(thread.metadata, {});
    assert.deepEqual((await client.beta.threads.messages.list(thread.id)).data, []);
    state.bareThread = thread;
  });

  await check('threads.create: every option (messages, tool_resources, metadata)', async () => {
    const thread = await client.beta.threads.create({
      messages: [
        {
          role: 'user',
          content: 'What is in this file?',
          attachments: [{ file_id: state.file.id, tools: [{ type: 'file_search' }] }],
          metadata: { n: '1' },
        },
        { role: 'assistant', content: [{ type: 'text', text: 'Some notes.' }] },
      ],
      tool_resources: { code_interpreter: { file_ids: [state.file.id] } },
      metadata: { user: 'u-1' },
    });
    hasKeys(thread, KEYS.thread, 'thread');
    isId(thread.id, 'thread_');
    assert.deepEqual(thread.metadata, { user: 'u-1' });
    assert.deepEqual(thread.tool_resources.code_interpreter, { file_ids: [state.file.id] });
    const messages = await client.beta.threads.messages.list(thread.id, { order: 'asc' });
    assert.equal(messages.data.length, 2);
    const [question, answer] = messages.data;
    assert.equal(question.role, 'user');
    assert.deepEqual(question.content, [
      { type: 'text', text: { value: 'What is in this file?', annotations: [] } },
    ]);
    assert.deepEqual(question.attachments, [
      { file_id: state.file.id, tools: [{ type: 'file_search' }] },
    ]);
    assert.deepEqual(question.metadata, { n: '1' });
    assert.equal(answer.role, 'assistant');
    assert.equal(answer.content[0].text.value, 'Some notes.');
    assert.ok(messages.data.every((message) => message.thread_id === thread.id));
    state.fullThread = thread;
  });

  await check('threads.create: bad parameter is a BadRequestError', async () => {
    await badRequest(
      client.beta.threads.create({ messages: [{ role: 'system', content: 'x' }] }),
      'messages[0].role',
      'invalid_value',
    );
  });

  await check('threads.retrieve', async () => {
    assert.deepEqual(await client.beta.threads.retrieve(state.bareThread.id), state.bareThread);
    assert.deepEqual(await client.beta.threads.retrieve(state.fullThread.id), state.fullThread);
  });

  await check('threads.update: bare changes nothing', async () => {
    assert.deepEqual(await client.beta.threads.update(state.fullThread.id, {}), state.fullThread);
  });

  await check('threads.update: every option (metadata, tool_resources)', async () => {
    const updated = await client.beta.threads.update(state.bareThread.id, {
      metadata: { stage: 'two', k: 'v' },
      tool_resources: { code_interpreter: { file_ids: [state.file.id, seed.fileId] } },
    });
    hasKeys(updated, KEYS.thread, 'thread');
    assert.equal(updated.id, state.bareThread.id);
    assert.equal(updated.created_at, state.bareThread.created_at);
    assert.deepEqual(updated.metadata, { stage: 'two', k: 'v' });
    assert.deepEqual(updated.tool_resources.code_interpreter, {
      file_ids: [state.file.id, seed.fileId],
    });
    assert.deepEqual(await client.beta.threads.retrieve(state.bareThread.id), updated);
    state.bareThread = updated;
  });

  await check('threads.delete, then 404 as NotFoundError', async () => {
    const deleted = await client.beta.threads.delete(state.fullThread.id);
    hasKeys(deleted, KEYS.deleted, 'deleted thread');
    assert.deepEqual(deleted, { id: state.fullThread.id, object: 'thread.deleted', deleted: true });
    const id = state.fullThread.id;
    await notFound(client.beta.threads.retrieve(id), 'thread', id);
    await notFound(client.beta.threads.update(id, { metadata: {} }), 'thread', id);
    await notFound(client.beta.threads.delete(id), 'thread', id);
    await notFound(client.beta.threads.messages.list(id), 'thread', id);
  });
}

async function messageFlows() {
  const threadId = state.bareThread.id;
  const made = [];

  await check('messages.create: bare (role and content)', async () => {
    const message = await client.beta.threads.messages.create(threadId, {
      role: 'user',
      content: 'Hello there',
    });
    hasKeys(message, KEYS.message, 'message');
    isId(message.id, 'msg_');
    assert.equal(message.object, 'thread.message');
    isTimestamp(message.created_at);
    assert.equal(message.thread_id, threadId);
    assert.equal(message.role, 'user');
    assert.equal(message.status, 'completed');
    assert.deepEqual(message.content, [
      { type: 'text', text: { value: 'Hello there', annotations: [] } },
    ]);
    assert.equal(message.assistant_id, null);
    assert.equal(message.run_id, null);
    assert.equal(message.incomplete_details, null);
    assert.equal(message.incomplete_at, null);
    assert.deepEqual(message.metadata, {});
    state.message = message;
    made.push(message.id);
  });

  await check('messages.create: every option (parts, attachments, metadata)', async () => {
    const message = await client.beta.threads.messages.create(threadId, {
      role: 'assistant',
      content: [
        { type: 'text', text: 'Look at these:' },
        { type: 'image_file', image_file: { file_id: state.file.id, detail: 'low' } },
        { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'high' } },
      ],
      attachments: [
        {
          file_id: state.file.id,
          tools: [{ type: 'code_interpreter' }, { type: 'file_search' }],
        },
      ],
      metadata: { source: 'node' },
    });
    hasKeys(message, KEYS.message, 'message');
    isId(message.id, 'msg_');
    assert.equal(message.role, 'assistant');
    assert.deepEqual(message.content, [
      { type: 'text', text: { value: 'Look at these:', annotations: [] } },
      { type: 'image_file', image_file: { file_id: state.file.id, detail: 'low' } },
      { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'high' } },
    ]);
    assert.deepEqual(message.attachments, [
      { file_id: state.file.id, tools: [{ type: 'code_interpreter' }, { type: 'file_search' }] },
    ]);
    assert.deepEqual(message.metadata, { source: 'node' });
    state.fullMessage = message;
    made.push(message.id);
  });

  await check('messages.create: bad parameter is a BadRequestError', async () => {
    await badRequest(
      client.beta.threads.messages.create(threadId, { role: 'system', content: 'x' }),
      'role',
      'invalid_value',
    );
    await badRequest(
      client.beta.threads.messages.create(threadId, {
        role: 'user',
        content: 'x',
        attachments: [{ file_id: 'file-nope', tools: [{ type: 'file_search' }] }],
      }),
      'attachments[0].file_id',
      null,
    );
  });

  await check('messages.retrieve', async () => {
    const message = await client.beta.threads.messages.retrieve(state.message.id, {
      thread_id: threadId,
    });
    assert.deepEqual(message, state.message);
    assert.deepEqual(
      await client.beta.threads.messages.retrieve(state.fullMessage.id, { thread_id: threadId }),
      state.fullMessage,
    );
  });

  await check('messages.retrieve through another thread is a 404', async () => {
    await notFound(
      client.beta.threads.messages.retrieve(state.message.id, { thread_id: seed.threadId }),
      'message',
      state.message.id,
    );
  });

  await check('messages.update: bare changes nothing', async () => {
    const same = await client.beta.threads.messages.update(state.fullMessage.id, {
      thread_id: threadId,
    });
    assert.deepEqual(same, state.fullMessage);
  });

  await check('messages.update: every option (metadata)', async () => {
    const updated = await client.beta.threads.messages.update(state.message.id, {
      thread_id: threadId,
      metadata: { reviewed: 'yes' },
    });
    hasKeys(updated, KEYS.message, 'message');
    assert.deepEqual(updated, { ...state.message, metadata: { reviewed: 'yes' } });
    assert.deepEqual(
      await client.beta.threads.messages.retrieve(state.message.id, { thread_id: threadId }),
      updated,
    );
    state.message = updated;
  });

  await check('messages.list: bare (newest first)', async () => {
    for (let i = 0; i < 3; i++) {
      const message = await client.beta.threads.messages.create(threadId, {
        role: 'user',
        content: `more ${i}`,
      });
      made.push(message.id);
    }
    const page = await client.beta.threads.messages.list(threadId);
    assert.deepEqual(ids(page.data), [...made].reverse());
    checkEnvelope(page, { hasMore: false });
    for (const message of page.data) hasKeys(message, KEYS.message, 'listed message');
    assert.deepEqual(page.data.at(-1), state.message);
  });

  await check('messages.list: every option (limit, order, after, before, run_id)', async () => {
    const page = await client.beta.threads.messages.list(threadId, {
      limit: 2,
      order: 'asc',
      after: made[0],
      before: made[4],
      run_id: seed.runId,
    });
    // No message of this thread belongs to that run.
    assert.deepEqual(page.data, []);
    checkEnvelope(page, { hasMore: false });
    const window = await client.beta.threads.messages.list(threadId, {
      limit: 2,
      order: 'asc',
      after: made[0],
      before: made[4],
    });
    assert.deepEqual(ids(window.data), [made[1], made[2]]);
    checkEnvelope(window, { hasMore: true });
    const paged = await collect(client.beta.threads.messages.list(threadId, { limit: 2 }));
    assert.deepEqual(ids(paged), [...made].reverse());
  });

  await check('messages.list: run_id filter on the seeded thread', async () => {
    const all = await client.beta.threads.messages.list(seed.threadId);
    assert.deepEqual(ids(all.data), [seed.runMessageId, seed.userMessageId]);
    const ofRun = await client.beta.threads.messages.list(seed.threadId, { run_id: seed.runId });
    assert.deepEqual(ids(ofRun.data), [seed.runMessageId]);
    checkEnvelope(ofRun, { hasMore: false });
    const [message] = ofRun.data;
    hasKeys(message, KEYS.message, 'run message');
    assert.equal(message.run_id, seed.runId);
    assert.equal(message.assistant_id, seed.assistantId);
    assert.equal(message.role, 'assistant');
    const ofEarlier = await client.beta.threads.messages.list(seed.threadId, {
      run_id: seed.earlierRunId,
    });
    assert.deepEqual(ofEarlier.data, []);
  });

  await check('messages.list: bad limit is a BadRequestError', async () => {
    await badRequest(
      client.beta.threads.messages.list(threadId, { limit: 1000 }),
      'limit',
      'integer_above_max_value',
    );
  });

  await check('messages.delete, then 404 as NotFoundError', async () => {
    const id = state.fullMessage.id;
    const deleted = await client.beta.threads.messages.delete(id, { thread_id: threadId });
    hasKeys(deleted, KEYS.deleted, 'deleted message');
    assert.deepEqual(deleted, { id, object: 'thread.message.deleted', deleted: true });
    made.splice(made.indexOf(id), 1);
    await notFound(
      client.beta.threads.messages.retrieve(id, { thread_id: threadId }),
      'message',
      id,
    );
    await notFound(
      client.beta.threads.messages.update(id, { thread_id: threadId, metadata: {} }),
      'message',
      id,
    );
    await notFound(client.beta.threads.messages.delete(id, { thread_id: threadId }), 'message', id);
    const left = await client.beta.threads.messages.list(threadId, { limit: 100 });
    assert.deepEqual(ids(left.data), [...made].reverse());
  });
}

function checkRun(run) {
  hasKeys(run, KEYS.run, 'run');
  isId(run.id, 'run_');
  assert.equal(run.object, 'thread.run');
  isTimestamp(run.created_at);
  assert.equal(run.thread_id, seed.threadId);
  assert.equal(run.assistant_id, seed.assistantId);
  assert.equal(run.status, 'completed');
  assert.equal(run.required_action, null);
  assert.equal(run.last_error, null);
  assert.equal(typeof run.instructions, 'string');
  assert.ok(Array.isArray(run.tools));
  assert.equal(typeof run.parallel_tool_calls, 'boolean');
  assert.deepEqual(Object.keys(run.usage).sort(), [
    'completion_tokens',
    'prompt_tokens',
    'total_tokens',
  ]);
}

async function runFlows() {
  const threadId = seed.threadId;

  await check('runs.list: bare (newest first)', async () => {
    const page = await client.beta.threads.runs.list(threadId);
    assert.deepEqual(ids(page.data), [seed.runId, seed.earlierRunId]);
    checkEnvelope(page, { hasMore: false });
    page.data.forEach(checkRun);
    const [run] = page.data;
    assert.equal(run.model, 'gpt-4o');
    assert.equal(run.instructions, 'Answer from the handbook.');
    assert.deepEqual(run.tools, [
      {
        type: 'file_search',
        file_search: {
          ranking_options: { ranker: 'default_2024_08_21', score_threshold: 0 },
        },
      },
    ]);
    assert.deepEqual(run.metadata, { seeded: 'yes' });
    assert.deepEqual(run.usage, { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 });
    assert.deepEqual(run.truncation_strategy, { type: 'auto', last_messages: null });
    assert.equal(run.tool_choice, 'auto');
    assert.equal(run.response_format, 'auto');
    assert.equal(run.parallel_tool_calls, true);
    state.run = run;
  });

  await check('runs.list: every option (limit, order, after, before)', async () => {
    const asc = await client.beta.threads.runs.list(threadId, { limit: 1, order: 'asc' });
    assert.deepEqual(ids(asc.data), [seed.earlierRunId]);
    checkEnvelope(asc, { hasMore: true });
    const after = await client.beta.threads.runs.list(threadId, {
      limit: 5,
      order: 'asc',
      after: seed.earlierRunId,
      before: seed.runId,
    });
    assert.deepEqual(after.data, []);
    checkEnvelope(after, { hasMore: false });
    const before = await client.beta.threads.runs.list(threadId, {
      limit: 5,
      order: 'desc',
      before: seed.earlierRunId,
    });
    assert.deepEqual(ids(before.data), [seed.runId]);
    const paged = await collect(client.beta.threads.runs.list(threadId, { limit: 1 }));
    assert.deepEqual(ids(paged), [seed.runId, seed.earlierRunId]);
  });

  await check('runs.list: bad order is a BadRequestError', async () => {
    await badRequest(
      client.beta.threads.runs.list(threadId, { order: 'sideways' }),
      'order',
      'invalid_value',
    );
  });

  await check('runs.retrieve', async () => {
    const run = await client.beta.threads.runs.retrieve(seed.runId, { thread_id: threadId });
    checkRun(run);
    assert.deepEqual(run, state.run);
  });

  await check('runs.retrieve: unknown run and wrong thread are 404s', async () => {
    await notFound(
      client.beta.threads.runs.retrieve('run_nope', { thread_id: threadId }),
      'run',
      'run_nope',
    );
    await notFound(
      client.beta.threads.runs.retrieve(seed.runId, { thread_id: state.bareThread.id }),
      'run',
      seed.runId,
    );
    await notFound(
      client.beta.threads.runs.retrieve(seed.runId, { thread_id: 'thread_nope' }),
      'thread',
      'thread_nope',
    );
  });

  await check('runs.update: bare changes nothing', async () => {
    const same = await client.beta.threads.runs.update(seed.runId, { thread_id: threadId });
    assert.deepEqual(same, state.run);
  });

  await check('runs.update: every option (metadata)', async () => {
    const updated = await client.beta.threads.runs.update(seed.runId, {
      thread_id: threadId,
      metadata: { reviewed: 'true', by: 'node' },
    });
    checkRun(updated);
    assert.deepEqual(updated, { ...state.run, metadata: { reviewed: 'true', by: 'node' } });
    assert.deepEqual(
      await client.beta.threads.runs.retrieve(seed.runId, { thread_id: threadId }),
      updated,
    );
    state.run = updated;
  });

  await check('runs.update: bad metadata is a BadRequestError', async () => {
    const metadata = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    await badRequest(
      client.beta.threads.runs.update(seed.runId, { thread_id: threadId, metadata }),
      'metadata',
      'object_above_max_properties',
    );
    assert.deepEqual(
      (await client.beta.threads.runs.retrieve(seed.runId, { thread_id: threadId })).metadata,
      state.run.metadata,
    );
  });
}

function checkStep(step) {
  hasKeys(step, KEYS.step, 'run step');
  isId(step.id, 'step_');
  assert.equal(step.object, 'thread.run.step');
  isTimestamp(step.created_at);
  assert.equal(step.thread_id, seed.threadId);
  assert.equal(step.run_id, seed.runId);
  assert.equal(step.assistant_id, seed.assistantId);
  assert.equal(step.status, 'completed');
  assert.equal(step.step_details.type, step.type);
}

/** The seeded file_search step; `content` on its results exactly when `withContent`. */
function checkSearchStep(step, withContent) {
  checkStep(step);
  assert.equal(step.id, seed.stepId);
  assert.equal(step.type, 'tool_calls');
  const [call] = step.step_details.tool_calls;
  assert.equal(step.step_details.tool_calls.length, 1);
  isId(call.id, 'call_');
  assert.equal(call.type, 'file_search');
  assert.deepEqual(call.file_search.ranking_options, {
    ranker: 'default_2024_08_21',
    score_threshold: 0,
  });
  const [result] = call.file_search.results;
  assert.equal(call.file_search.results.length, 1);
  const expected = { file_id: seed.fileId, file_name: 'handbook.txt', score: 0.87 };
  if (withContent) expected.content = [{ type: 'text', text: seed.searchContent }];
  assert.deepEqual(result, expected);
}

async function stepFlows() {
  const threadId = seed.threadId;
  const runId = seed.runId;

  await check('steps.list: bare (newest first, no result content)', async () => {
    const page = await client.beta.threads.runs.steps.list(runId, { thread_id: threadId });
    assert.deepEqual(ids(page.data), [seed.messageStepId, seed.stepId, seed.firstStepId]);
    checkEnvelope(page, { hasMore: false });
    page.data.forEach(checkStep);
    const [creation, search, code] = page.data;
    assert.equal(creation.type, 'message_creation');
    assert.deepEqual(creation.step_details, {
      type: 'message_creation',
      message_creation: { message_id: seed.runMessageId },
    });
    checkSearchStep(search, false);
    assert.equal(code.type, 'tool_calls');
    assert.equal(code.step_details.tool_calls[0].type, 'code_interpreter');
    assert.deepEqual(code.step_details.tool_calls[0].code_interpreter.outputs, [
      { type: 'logs', logs: '4' },
    ]);
  });

  await check('steps.list: every option (limit, order, after, before, include)', async () => {
    const page = await client.beta.threads.runs.steps.list(runId, {
      thread_id: threadId,
      limit: 1,
      order: 'asc',
      after: seed.firstStepId,
      before: seed.messageStepId,
      include: [INCLUDE_CONTENT],
    });
    assert.deepEqual(ids(page.data), [seed.stepId]);
    checkEnvelope(page, { hasMore: false });
    checkSearchStep(page.data[0], true);
    const first = await client.beta.threads.runs.steps.list(runId, {
      thread_id: threadId,
      limit: 2,
      order: 'asc',
      include: [INCLUDE_CONTENT],
    });
    assert.deepEqual(ids(first.data), [seed.firstStepId, seed.stepId]);
    checkEnvelope(first, { hasMore: true });
    checkSearchStep(first.data[1], true);
    // Auto-pagination keeps the include[] of the first request.
    const all = await collect(
      client.beta.threads.runs.steps.list(runId, {
        thread_id: threadId,
        limit: 1,
        include: [INCLUDE_CONTENT],
      }),
    );
    assert.deepEqual(ids(all), [seed.messageStepId, seed.stepId, seed.firstStepId]);
    checkSearchStep(all[1], true);
  });

  await check('steps.list: bad include is a BadRequestError', async () => {
    await rejects(
      client.beta.threads.runs.steps.list(runId, { thread_id: threadId, include: ['bogus'] }),
      OpenAI.BadRequestError,
      400,
      { param: /^include/, code: 'invalid_value' },
    );
  });

  await check('steps.retrieve: bare (no result content)', async () => {
    const step = await client.beta.threads.runs.steps.retrieve(seed.stepId, {
      thread_id: threadId,
      run_id: runId,
    });
    checkSearchStep(step, false);
    assert.deepEqual(step.usage, { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 });
    assert.deepEqual(step.metadata, {});
    assert.equal(step.last_error, null);
    for (const key of ['expired_at', 'cancelled_at', 'failed_at']) assert.equal(step[key], null);
    assert.equal(step.completed_at, step.created_at);
  });

  await check('steps.retrieve: every option (include)', async () => {
    const step = await client.beta.threads.runs.steps.retrieve(seed.stepId, {
      thread_id: threadId,
      run_id: runId,
      include: [INCLUDE_CONTENT],
    });
    checkSearchStep(step, true);
    const creation = await client.beta.threads.runs.steps.retrieve(seed.messageStepId, {
      thread_id: threadId,
      run_id: runId,
      include: [INCLUDE_CONTENT],
    });
    assert.equal(creation.step_details.message_creation.message_id, seed.runMessageId);
  });

  await check('steps.retrieve: unknown step and wrong run are 404s', async () => {
    await notFound(
      client.beta.threads.runs.steps.retrieve('step_nope', { thread_id: threadId, run_id: runId }),
      'run step',
      'step_nope',
    );
    await notFound(
      client.beta.threads.runs.steps.retrieve(seed.stepId, {
        thread_id: threadId,
        run_id: seed.earlierRunId,
      }),
      'run step',
      seed.stepId,
    );
    await notFound(
      client.beta.threads.runs.steps.list('run_nope', { thread_id: threadId }),
      'run',
      'run_nope',
    );
  });
}

async function authFlows() {
  await check('a wrong API key is an AuthenticationError', async () => {
    const stranger = new OpenAI({
      baseURL: env('THREADLINE_BASE_URL'),
      apiKey: 'sk-not-a-real-key-000000',
      maxRetries: 0,
    });
    const error = await rejects(stranger.beta.assistants.list(), OpenAI.AuthenticationError, 401, {
      code: 'invalid_api_key',
    });
    assert.match(error.error.message, /^Incorrect API key provided/);
  });
}

await fileFlows();
await assistantFlows();
await threadFlows();
await messageFlows();
await runFlows();
await stepFlows();
await authFlows();

if (failures.length) {
  const list = failures.map((name) => `  - ${name}`).join('\n');
  console.log(`\n${failures.length} check(s) failed:\n${list}`);
  process.exit(1);
}
console.log('\nall checks passed');
