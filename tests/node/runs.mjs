// Runs through the official `openai` npm SDK: the polling helpers (createAndPoll,
// submitToolOutputsAndPoll, createAndRunPoll), the AssistantStream helpers (runs.stream,
// submitToolOutputsStream, createAndRunStream), run steps and cancel.
//
// Run by tests/test_node_runs.py, which starts the server and scripts one model per flow on
// the scripted backend. Environment:
//   THREADLINE_BASE_URL, THREADLINE_API_KEY       where and as whom
//   THREADLINE_MODEL_<FLOW>, THREADLINE_TEXT_<FLOW> the model of each flow and the text its
//                                                 final answer carries, for FLOW in
//   POLL           one text answer
//   STREAM         one text answer, in 6 chunks
//   TOOL_STREAM    get_weather({"city": "Paris"}), then a text answer in 5 chunks
//   TOOL_POLL      get_weather({"city": "Rome"}) and get_time({"zone": "CET"}) at once,
//                  then a text answer
//   THREAD_RUN     one text answer (thread and run)
//   THREAD_STREAM  one text answer (thread and run, streamed)
//   SLOW           one text answer that starts only after 5 s (to be cancelled)
//   CANCEL_STREAM  one text answer, a character every 0.2 s (cancelled mid-stream)
// Usage the scripted model reports: text replies 20 + 10, tool-call replies 30 + 15.
// Exits non-zero when any check fails, after printing every failure.

import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { env, makeClient } from './setup.mjs';


const FLOWS = [
  'POLL',
  'STREAM',
  'TOOL_STREAM',
  'TOOL_POLL',
  'THREAD_RUN',
  'THREAD_STREAM',
  'SLOW',
  'CANCEL_STREAM',
];
const model = Object.fromEntries(FLOWS.map((flow) => [flow, env(`THREADLINE_MODEL_${flow}`)]));
const text = Object.fromEntries(FLOWS.map((flow) => [flow, env(`THREADLINE_TEXT_${flow}`)]));

const client = makeClient();
const runs = client.beta.threads.runs;

const TEXT_USAGE = { prompt_tokens: 20, completion_tokens: 10, total_tokens: 30 };
const TOOL_USAGE = { prompt_tokens: 30, completion_tokens: 15, total_tokens: 45 };
const sum = (...usages) => ({
  prompt_tokens: usages.reduce((n, u) => n + u.prompt_tokens, 0),
  completion_tokens: usages.reduce((n, u) => n + u.completion_tokens, 0),
  total_tokens: usages.reduce((n, u) => n + u.total_tokens, 0),
});

// The official event order (CONTRACT.md, shared/spec/examples/*.sse); `+` marks an event
// that comes once or more in a row. `done` never reaches the SDK's listeners.
const TEXT_RUN = [
  'thread.run.created',
  'thread.run.queued',
  'thread.run.in_progress',
  'thread.run.step.created',
  'thread.run.step.in_progress',
  'thread.message.created',
  'thread.message.in_progress',
  'thread.message.delta+',
  'thread.message.completed',
  'thread.run.step.completed',
  'thread.run.completed',
];
const FUNCTION_RUN = [
  'thread.run.created',
  'thread.run.queued',
  'thread.run.in_progress',
  'thread.run.step.created',
  'thread.run.step.in_progress',
  'thread.run.step.delta+',
  'thread.run.requires_action',
];
const AFTER_OUTPUTS = ['thread.run.step.completed', 'thread.run.queued', ...TEXT_RUN.slice(2)];

const WEATHER = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather in a city',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};
const CLOCK = {
  type: 'function',
  function: {
    name: 'get_time',
    parameters: { type: 'object', properties: { zone: { type: 'string' } } },
  },
};

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

/** A run of delta events of one name becomes one `<name>+`. */
function collapse(names) {
  const out = [];
  for (const name of names) {
    if (name.endsWith('.delta') && out.at(-1) === `${name}+`) continue;
    out.push(name.endsWith('.delta') ? `${name}+` : name);
  }
  return out;
}

/** Every event name the stream helper hands to `.on('event')`, in order. */
function eventNames(stream) {
  const names = [];
  stream.on('event', (event) => names.push(event.event));
  return names;
}

const textOf = (message) => {
  assert.equal(message.content.length, 1, 'one content part');
  assert.equal(message.content[0].type, 'text');
  return message.content[0].text.value;
};

async function sleep(ms) {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** runs.retrieve until the run's status is one of `statuses`. */
async function waitFor(threadId, runId, statuses, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let run;
  while (Date.now() < deadline) {
    run = await runs.retrieve(runId, { thread_id: threadId });
    if (statuses.includes(run.status)) return run;
    await sleep(20);
  }
  assert.fail(`run ${runId} is ${run?.status}, not one of ${statuses}`);
}

/** A completed run whose last turn produced `answer` with `usage`. */
function completedRun(run, { assistantId, threadId, usage }) {
  isId(run.id, 'run_');
  assert.equal(run.object, 'thread.run');
  assert.equal(run.status, 'completed');
  assert.equal(run.assistant_id, assistantId);
  if (threadId) assert.equal(run.thread_id, threadId);
  assert.equal(run.required_action, null);
  assert.equal(run.last_error, null);
  assert.equal(run.incomplete_details, null);
  assert.equal(run.cancelled_at, null);
  assert.equal(run.failed_at, null);
  isTimestamp(run.created_at);
  isTimestamp(run.started_at);
  isTimestamp(run.completed_at);
  assert.ok(run.started_at >= run.created_at && run.completed_at >= run.started_at);
  assert.deepEqual(run.usage, usage);
}

/** The run's message_creation step, completed, pointing at `messageId`. */
function messageStep(step, { run, messageId, usage }) {
  isId(step.id, 'step_');
  assert.equal(step.object, 'thread.run.step');
  assert.equal(step.type, 'message_creation');
  assert.equal(step.status, 'completed');
  assert.equal(step.run_id, run.id);
  assert.equal(step.thread_id, run.thread_id);
  assert.equal(step.assistant_id, run.assistant_id);
  assert.deepEqual(step.step_details, {
    type: 'message_creation',
    message_creation: { message_id: messageId },
  });
  assert.equal(step.last_error, null);
  assert.equal(step.cancelled_at, null);
  assert.equal(step.failed_at, null);
  isTimestamp(step.completed_at);
  assert.deepEqual(step.usage, usage);
}

/** The assistant's answer of `run`, completed, saying `value`. */
function answer(message, { run, value }) {
  isId(message.id, 'msg_');
  assert.equal(message.object, 'thread.message');
  assert.equal(message.role, 'assistant');
  assert.equal(message.status, 'completed');
  assert.equal(message.run_id, run.id);
  assert.equal(message.assistant_id, run.assistant_id);
  assert.equal(message.thread_id, run.thread_id);
  assert.equal(message.incomplete_details, null);
  isTimestamp(message.completed_at);
  assert.equal(textOf(message), value);
  assert.deepEqual(message.content[0].text.annotations, []);
}

async function newAssistant(flow, extra = {}) {
  const assistant = await client.beta.assistants.create({ model: model[flow], ...extra });
  assert.equal(assistant.model, model[flow]);
  return assistant;
}

async function newThread(content) {
  return client.beta.threads.create({ messages: [{ role: 'user', content }] });
}

// -- the flows ---------------------------------------------------------------------------------

async function pollFlow() {
  const state = {};
  await check('runs.createAndPoll completes with the scripted text', async () => {
    state.assistant = await newAssistant('POLL', { instructions: 'Answer briefly.' });
    state.thread = await newThread('What is six times seven?');
    const run = await runs.createAndPoll(state.thread.id, { assistant_id: state.assistant.id });
    completedRun(run, {
      assistantId: state.assistant.id,
      threadId: state.thread.id,
      usage: TEXT_USAGE,
    });
    assert.equal(run.model, model.POLL);
    assert.equal(run.instructions, 'Answer briefly.');
    assert.deepEqual(run.tools, []);
    assert.deepEqual(await runs.retrieve(run.id, { thread_id: state.thread.id }), run);
    const messages = await client.beta.threads.messages.list(state.thread.id);
    assert.equal(messages.data.length, 2);
    answer(messages.data[0], { run, value: text.POLL });
    assert.equal(messages.data[1].role, 'user');
    state.run = run;
    state.message = messages.data[0];
  });

  await check('runs.steps.list: one completed message_creation step with usage', async () => {
    const page = await runs.steps.list(state.run.id, { thread_id: state.thread.id });
    assert.equal(page.data.length, 1);
    assert.equal(page.has_more, false);
    const [step] = page.data;
    messageStep(step, { run: state.run, messageId: state.message.id, usage: TEXT_USAGE });
    const again = await runs.steps.retrieve(step.id, {
      thread_id: state.thread.id,
      run_id: state.run.id,
    });
    assert.deepEqual(again, step);
  });
}

async function streamFlow() {
  await check('runs.stream: official event order, textDelta, finalRun, finalMessages', async () => {
    const assistant = await newAssistant('STREAM');
    const thread = await newThread('Hello');
    const stream = runs.stream(thread.id, { assistant_id: assistant.id });
    const names = eventNames(stream);
    const deltas = [];
    const snapshots = [];
    const created = [];
    const done = [];
    stream
      .on('textCreated', (content) => created.push(content))
      .on('textDelta', (delta, snapshot) => {
        deltas.push(delta.value);
        snapshots.push(snapshot.value);
      })
      .on('textDone', (content) => done.push(content.value));
    const run = await stream.finalRun();
    const messages = await stream.finalMessages();

    assert.deepEqual(collapse(names), TEXT_RUN);
    assert.ok(deltas.length >= 2, `several text deltas (got ${deltas.length})`);
    assert.equal(deltas.join(''), text.STREAM);
    // Each snapshot is the text so far: deltas carry only their new fragment.
    assert.deepEqual(
      snapshots,
      deltas.map((_, i) => deltas.slice(0, i + 1).join('')),
    );
    assert.equal(names.filter((n) => n === 'thread.message.delta').length, deltas.length);
    assert.equal(created.length, 1);
    assert.deepEqual(done, [text.STREAM]);

    completedRun(run, { assistantId: assistant.id, threadId: thread.id, usage: TEXT_USAGE });
    assert.equal(messages.length, 1);
    answer(messages[0], { run, value: text.STREAM });
    // What the stream said is what the store holds.
    const stored = await client.beta.threads.messages.retrieve(messages[0].id, {
      thread_id: thread.id,
    });
    assert.deepEqual(stored, messages[0]);
    assert.deepEqual(await runs.retrieve(run.id, { thread_id: thread.id }), run);
    const steps = await stream.finalRunSteps();
    assert.equal(steps.length, 1);
    messageStep(steps[0], { run, messageId: messages[0].id, usage: TEXT_USAGE });
  });

  await check('threads.createAndRunStream: thread.created, then a text run', async () => {
    const assistant = await newAssistant('THREAD_STREAM');
    const stream = client.beta.threads.createAndRunStream({
      assistant_id: assistant.id,
      thread: { messages: [{ role: 'user', content: 'Say hello' }] },
    });
    const names = eventNames(stream);
    const threads = [];
    stream.on('event', (event) => {
      if (event.event === 'thread.created') threads.push(event.data);
    });
    const deltas = [];
    stream.on('textDelta', (delta) => deltas.push(delta.value));
    const run = await stream.finalRun();
    assert.deepEqual(collapse(names), ['thread.created', ...TEXT_RUN]);
    assert.equal(threads.length, 1);
    isId(threads[0].id, 'thread_');
    assert.equal(threads[0].object, 'thread');
    completedRun(run, { assistantId: assistant.id, threadId: threads[0].id, usage: TEXT_USAGE });
    assert.equal(deltas.join(''), text.THREAD_STREAM);
    const [message] = await stream.finalMessages();
    answer(message, { run, value: text.THREAD_STREAM });
  });
}

async function toolStreamFlow() {
  const state = {};
  await check('runs.stream with a function tool ends in requires_action', async () => {
    state.assistant = await newAssistant('TOOL_STREAM', { tools: [WEATHER] });
    state.thread = await newThread('Weather in Paris?');
    const stream = runs.stream(state.thread.id, { assistant_id: state.assistant.id });
    const names = eventNames(stream);
    const stepDeltas = [];
    const createdCalls = [];
    const argumentDeltas = [];
    const doneCalls = [];
    stream
      .on('runStepDelta', (delta) => stepDeltas.push(delta))
      .on('toolCallCreated', (call) => createdCalls.push(structuredClone(call)))
      .on('toolCallDelta', (delta) => argumentDeltas.push(delta.function.arguments))
      .on('toolCallDone', (call) => doneCalls.push(structuredClone(call)));
    const run = await stream.finalRun();

    assert.deepEqual(collapse(names), FUNCTION_RUN);
    assert.equal(run.status, 'requires_action');
    assert.equal(run.completed_at, null);
    assert.equal(run.usage, null);
    assert.equal(run.required_action.type, 'submit_tool_outputs');
    const calls = run.required_action.submit_tool_outputs.tool_calls;
    assert.equal(calls.length, 1);
    isId(calls[0].id, 'call_');
    assert.deepEqual(calls[0], {
      id: calls[0].id,
      type: 'function',
      function: { name: 'get_weather', arguments: '{"city": "Paris"}' },
    });
    // The first delta names the call; the later ones carry argument fragments.
    assert.ok(stepDeltas.length >= 2, `several step deltas (got ${stepDeltas.length})`);
    assert.equal(createdCalls.length, 1);
    assert.equal(createdCalls[0].id, calls[0].id);
    assert.equal(createdCalls[0].function.name, 'get_weather');
    assert.ok(argumentDeltas.length >= 1);
    assert.equal(argumentDeltas.join(''), '{"city": "Paris"}');
    assert.equal(doneCalls.length, 1);
    assert.equal(doneCalls[0].id, calls[0].id);
    assert.equal(doneCalls[0].function.arguments, '{"city": "Paris"}');
    // The step the stream built up: one function call, no output yet.
    const [step] = await stream.finalRunSteps();
    assert.equal(step.type, 'tool_calls');
    assert.equal(step.status, 'in_progress');
    assert.equal(step.step_details.tool_calls[0].function.arguments, '{"city": "Paris"}');
    assert.deepEqual(await runs.retrieve(run.id, { thread_id: state.thread.id }), run);
    state.run = run;
    state.call = calls[0];
  });

  await check('runs.submitToolOutputsStream continues the run to completion', async () => {
    const stream = runs.submitToolOutputsStream(state.run.id, {
      thread_id: state.thread.id,
      tool_outputs: [{ tool_call_id: state.call.id, output: 'sunny, 24C' }],
    });
    const names = eventNames(stream);
    const stepsDone = [];
    const deltas = [];
    stream
      .on('runStepDone', (step) => stepsDone.push(step))
      .on('textDelta', (delta) => deltas.push(delta.value));
    const run = await stream.finalRun();
    const messages = await stream.finalMessages();

    assert.deepEqual(collapse(names), AFTER_OUTPUTS);
    assert.ok(deltas.length >= 2, `several text deltas (got ${deltas.length})`);
    assert.equal(deltas.join(''), text.TOOL_STREAM);
    completedRun(run, {
      assistantId: state.assistant.id,
      threadId: state.thread.id,
      usage: sum(TOOL_USAGE, TEXT_USAGE),
    });
    assert.equal(run.id, state.run.id);
    assert.equal(messages.length, 1);
    answer(messages[0], { run, value: text.TOOL_STREAM });

    assert.equal(stepsDone.length, 2);
    const [toolStep, textStep] = stepsDone;
    assert.equal(toolStep.type, 'tool_calls');
    assert.equal(toolStep.status, 'completed');
    assert.deepEqual(toolStep.usage, TOOL_USAGE);
    assert.deepEqual(toolStep.step_details.tool_calls, [
      {
        id: state.call.id,
        type: 'function',
        function: { name: 'get_weather', arguments: '{"city": "Paris"}', output: 'sunny, 24C' },
      },
    ]);
    messageStep(textStep, { run, messageId: messages[0].id, usage: TEXT_USAGE });

    const page = await runs.steps.list(run.id, { thread_id: state.thread.id, order: 'asc' });
    assert.deepEqual(
      page.data.map((step) => [step.type, step.status]),
      [
        ['tool_calls', 'completed'],
        ['message_creation', 'completed'],
      ],
    );
    assert.deepEqual(page.data[0], toolStep);
    assert.deepEqual(page.data[1], textStep);
  });
}

async function toolPollFlow() {
  const state = {};
  await check('runs.createAndPoll with two function calls stops at requires_action', async () => {
    state.assistant = await newAssistant('TOOL_POLL', { tools: [WEATHER, CLOCK] });
    state.thread = await newThread('Weather and time in Rome?');
    const run = await runs.createAndPoll(state.thread.id, { assistant_id: state.assistant.id });
    assert.equal(run.status, 'requires_action');
    assert.equal(run.usage, null);
    assert.equal(run.parallel_tool_calls, true);
    const calls = run.required_action.submit_tool_outputs.tool_calls;
    assert.deepEqual(
      calls.map((call) => [call.type, call.function.name, call.function.arguments]),
      [
        ['function', 'get_weather', '{"city": "Rome"}'],
        ['function', 'get_time', '{"zone": "CET"}'],
      ],
    );
    calls.forEach((call) => isId(call.id, 'call_'));
    assert.notEqual(calls[0].id, calls[1].id);
    const [step] = (await runs.steps.list(run.id, { thread_id: state.thread.id })).data;
    assert.equal(step.type, 'tool_calls');
    assert.equal(step.status, 'in_progress');
    assert.equal(step.usage, null);
    assert.deepEqual(
      step.step_details.tool_calls.map((call) => [call.id, call.function.output]),
      calls.map((call) => [call.id, null]),
    );
    state.run = run;
    state.calls = calls;
  });

  await check('runs.submitToolOutputsAndPoll completes the run', async () => {
    const run = await runs.submitToolOutputsAndPoll(state.run.id, {
      thread_id: state.thread.id,
      tool_outputs: [
        { tool_call_id: state.calls[0].id, output: '21C' },
        { tool_call_id: state.calls[1].id, output: '14:00' },
      ],
    });
    completedRun(run, {
      assistantId: state.assistant.id,
      threadId: state.thread.id,
      usage: sum(TOOL_USAGE, TEXT_USAGE),
    });
    assert.equal(run.id, state.run.id);
    const [message] = (await client.beta.threads.messages.list(state.thread.id)).data;
    answer(message, { run, value: text.TOOL_POLL });
    const page = await runs.steps.list(run.id, { thread_id: state.thread.id });
    assert.equal(page.data.length, 2);
    const [textStep, toolStep] = page.data;
    messageStep(textStep, { run, messageId: message.id, usage: TEXT_USAGE });
    assert.equal(toolStep.status, 'completed');
    assert.deepEqual(toolStep.usage, TOOL_USAGE);
    assert.deepEqual(
      toolStep.step_details.tool_calls.map((call) => [call.id, call.function.output]),
      [
        [state.calls[0].id, '21C'],
        [state.calls[1].id, '14:00'],
      ],
    );
  });
}

async function threadRunFlow() {
  await check('threads.createAndRunPoll completes on a new thread', async () => {
    const assistant = await newAssistant('THREAD_RUN');
    const run = await client.beta.threads.createAndRunPoll({
      assistant_id: assistant.id,
      thread: { messages: [{ role: 'user', content: 'Hello, I am Ada.' }], metadata: { x: '1' } },
    });
    completedRun(run, { assistantId: assistant.id, usage: TEXT_USAGE });
    isId(run.thread_id, 'thread_');
    const thread = await client.beta.threads.retrieve(run.thread_id);
    assert.deepEqual(thread.metadata, { x: '1' });
    const messages = await client.beta.threads.messages.list(run.thread_id, { order: 'asc' });
    assert.equal(messages.data.length, 2);
    assert.equal(messages.data[0].role, 'user');
    assert.equal(textOf(messages.data[0]), 'Hello, I am Ada.');
    answer(messages.data[1], { run, value: text.THREAD_RUN });
  });
}

async function cancelFlow() {
  await check('runs.cancel on a slow run ends cancelled', async () => {
    const assistant = await newAssistant('SLOW');
    const thread = await newThread('Take your time.');
    const created = await runs.create(thread.id, { assistant_id: assistant.id });
    assert.equal(created.status, 'queued');
    const running = await waitFor(thread.id, created.id, ['in_progress']);
    isTimestamp(running.started_at);
    const started = Date.now();
    const cancelling = await runs.cancel(created.id, { thread_id: thread.id });
    assert.equal(cancelling.id, created.id);
    assert.equal(cancelling.status, 'cancelling');
    const run = await waitFor(thread.id, created.id, ['cancelled']);
    // The backend call in flight was abandoned, not waited out (the reply takes 5 s).
    assert.ok(Date.now() - started < 3000, `cancelled after ${Date.now() - started} ms`);
    isTimestamp(run.cancelled_at);
    assert.equal(run.completed_at, null);
    assert.equal(run.failed_at, null);
    assert.equal(run.required_action, null);
    assert.equal(run.last_error, null);
    // The model said nothing before the cancel: no tokens, no text; any step or message
    // begun ended cancelled / incomplete.
    assert.ok(run.usage === null || run.usage.total_tokens === 0, JSON.stringify(run.usage));
    const steps = (await runs.steps.list(run.id, { thread_id: thread.id })).data;
    for (const step of steps) {
      assert.equal(step.status, 'cancelled');
      isTimestamp(step.cancelled_at);
    }
    const messages = (await client.beta.threads.messages.list(thread.id)).data;
    assert.equal(messages.at(-1).role, 'user');
    for (const message of messages.filter((m) => m.role === 'assistant')) {
      assert.equal(message.status, 'incomplete');
      assert.deepEqual(message.incomplete_details, { reason: 'run_cancelled' });
      assert.ok(!textOf(message), `no text, got ${textOf(message)}`);
    }
    // A cancelled run cannot be cancelled again, and the thread is free.
    let error;
    try {
      await runs.cancel(run.id, { thread_id: thread.id });
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof OpenAI.BadRequestError, `got ${error?.constructor?.name}`);
    assert.equal(error.status, 400);
    assert.equal(error.error.message, "Cannot cancel run with status 'cancelled'.");
    const follow = await client.beta.threads.messages.create(thread.id, {
      role: 'user',
      content: 'Never mind.',
    });
    assert.equal(follow.role, 'user');
  });
  await check('runs.cancel mid-stream: ends cancelled, the message incomplete', async () => {
    const assistant = await newAssistant('CANCEL_STREAM');
    const thread = await newThread('Talk.');
    const stream = runs.stream(thread.id, { assistant_id: assistant.id });
    const names = eventNames(stream);
    const deltas = [];
    let cancelling;
    stream.on('textDelta', (delta) => {
      deltas.push(delta.value);
      if (deltas.length === 3) {
        // Settled either way, so a failure is reported by this check, not as an
        // unhandled rejection.
        cancelling = runs.cancel(stream.currentRun().id, { thread_id: thread.id }).then(
          (run) => run,
          (err) => err,
        );
      }
    });
    const run = await stream.finalRun();
    const messages = await stream.finalMessages();
    const steps = await stream.finalRunSteps();
    const cancelled = await cancelling;
    assert.ok(!(cancelled instanceof Error), String(cancelled));
    assert.equal(cancelled.status, 'cancelling');

    assert.deepEqual(collapse(names), [
      ...TEXT_RUN.slice(0, 8),
      'thread.run.cancelling',
      'thread.message.incomplete',
      'thread.run.step.cancelled',
      'thread.run.cancelled',
    ]);
    assert.equal(run.status, 'cancelled');
    isTimestamp(run.cancelled_at);
    assert.equal(run.completed_at, null);
    assert.equal(messages.length, 1);
    const [message] = messages;
    assert.equal(message.status, 'incomplete');
    assert.deepEqual(message.incomplete_details, { reason: 'run_cancelled' });
    isTimestamp(message.incomplete_at);
    // What was streamed before the cancel is kept, and is what the deltas said.
    const kept = textOf(message);
    assert.ok(kept.length >= 3 && kept.length < text.CANCEL_STREAM.length, kept);
    assert.ok(text.CANCEL_STREAM.startsWith(kept), kept);
    assert.equal(deltas.join(''), kept);
    assert.equal(steps.length, 1);
    assert.equal(steps[0].status, 'cancelled');
    isTimestamp(steps[0].cancelled_at);
    assert.deepEqual(await runs.retrieve(run.id, { thread_id: thread.id }), run);
    const stored = await client.beta.threads.messages.retrieve(message.id, {
      thread_id: thread.id,
    });
    assert.deepEqual(stored, message);
  });
}

// -- main ------------------------------------------------------------------------------------

await pollFlow();
await streamFlow();
await toolStreamFlow();
await toolPollFlow();
await threadRunFlow();
await cancelFlow();

if (failures.length) {
  console.log(`\n${failures.length} check(s) failed:\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log('\nall checks passed');
