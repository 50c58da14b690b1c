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
