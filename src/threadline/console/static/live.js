// A run's event stream (a streamed create, a tool outputs submission or the re-attach
// extension), handed out by kind.
export const ENDED = ["completed", "failed", "cancelled", "expired", "incomplete"];
export const LIVE = ["queued", "in_progress", "cancelling"];

export async function follow(stream, on) {
  for await (const { event, data } of stream) {
    if (event === "done" || data === "[DONE]") return;
    if (event === "error") on.error?.(data);
    else if (event.startsWith("thread.run.step.")) {
      if (event.endsWith(".delta")) on.stepDelta?.(data);
      else on.step?.(data, event);
    } else if (event.startsWith("thread.run.")) on.run?.(data, event);
    else if (event.startsWith("thread.message.")) {
      if (event.endsWith(".delta")) on.messageDelta?.(data);
      else on.message?.(data, event);
    }
  }
}

// The text a message delta adds to its parts.
export function deltaText(delta) {
  return (delta.delta.content || [])
    .filter((part) => part.type === "text" && part.text && part.text.value)
    .map((part) => part.text.value)
    .join("");
}

// A step with a delta's tool calls merged in, as a streamed step is put together: its
// function's name, then its arguments piece by piece; code, then its outputs.
export function applyStepDelta(step, delta) {
  const details = delta.delta.step_details;
  if (!details || details.type !== "tool_calls" || step.type !== "tool_calls") return step;
  const calls = step.step_details.tool_calls || (step.step_details.tool_calls = []);
  for (const part of details.tool_calls || []) {
    const call = calls[part.index] || (calls[part.index] = { type: part.type });
    if (part.id) call.id = part.id;
    const into = call[part.type] || (call[part.type] = {});
    for (const [name, value] of Object.entries(part[part.type] || {})) {
      if ((name === "arguments" || name === "input") && typeof into[name] === "string") into[name] += value;
      else if (name === "outputs" && Array.isArray(value)) into.outputs = [...(into.outputs || []), ...value];
      else into[name] = value;
    }
  }
  return step;
}

// A response's event stream (`POST /v1/responses` with `stream: true`, or
// `GET /v1/responses/{id}?stream=true`): lifecycle events hand out the response, the others
// change its output items. The stream ends after the response's end, with no `[DONE]`.
export const RESPONSE_LIVE = ["queued", "in_progress"];

export async function followResponse(stream, on) {
  for await (const { event, data } of stream) {
    if (event === "error") on.error?.(data);
    else if (data && data.response && /^response\.(created|queued|in_progress|completed|failed|incomplete)$/.test(event)) {
      on.response?.(data.response, event);
    } else if (data && typeof data === "object" && data.output_index !== undefined) on.item?.(event, data);
  }
}

// Output items with an event's change merged in, as a streamed response is put together:
// an item when it is added, its text, arguments and code piece by piece, its state, and
// its final form when it is done. Returns the output index it changed, or null. Pieces of
// an item this stream did not announce (a stream joined late) are left out: its final
// form comes with `response.output_item.done`.
export function applyResponseEvent(items, event, data, announced = new Set()) {
  const index = data.output_index;
  if (event === "response.output_item.added") {
    items[index] = structuredClone(data.item);
    announced.add(index);
    return index;
  }
  if (event === "response.output_item.done") {
    items[index] = data.item;
    return index;
  }
  const item = items[index];
  if (!item || !announced.has(index)) return null;
  if (event === "response.content_part.added") {
    (item.content || (item.content = []))[data.content_index] = structuredClone(data.part);
  } else if (event === "response.output_text.delta") {
    const part = textPart(item, data.content_index);
    part.text += data.delta;
  } else if (event === "response.output_text.done") {
    textPart(item, data.content_index).text = data.text;
  } else if (event === "response.output_text.annotation.added") {
    const part = textPart(item, data.content_index);
    (part.annotations || (part.annotations = []))[data.annotation_index] = data.annotation;
  } else if (event === "response.function_call_arguments.delta") {
    item.arguments = (item.arguments || "") + data.delta;
  } else if (event === "response.function_call_arguments.done") {
    item.arguments = data.arguments;
  } else if (event === "response.code_interpreter_call_code.delta") {
    item.code = (item.code || "") + data.delta;
  } else if (event === "response.code_interpreter_call_code.done") {
    item.code = data.code;
  } else {
    const state = event.match(/^response\.(?:file_search_call|code_interpreter_call)\.(in_progress|searching|interpreting|completed)$/);
    if (!state) return null;
    item.status = state[1];
  }
  return index;
}

function textPart(item, contentIndex) {
  const content = item.content || (item.content = []);
  return content[contentIndex] || (content[contentIndex] = { type: "output_text", text: "", annotations: [] });
}
