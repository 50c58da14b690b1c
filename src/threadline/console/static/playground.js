// The playground: chat with an assistant in a thread (the Assistants API), or with a model
// in a conversation (the Responses API: playground_responses.js). Answers stream in as the
// model writes them; beside the chat, the run's steps appear as the run takes them; a
// function call waits for the person to type its output.
import { events, get, listAll, post, upload } from "./api.js";
import { setAddress } from "./app.js";
import { applyStepDelta, deltaText, follow, LIVE } from "./live.js";
import { message } from "./messages.js";
import { modeSwitch, responsesPlayground } from "./playground_responses.js";
import { stepTitle } from "./steps.js";
import { errorBox, field, h, jsonBlock, link, page, replace, status } from "./ui.js";

export async function playground(main, _params, { signal, query }) {
  if (query.get("mode") === "responses" || query.has("conversation")) return responsesPlayground(main, { signal, query });
  const assistants = await listAll("/assistants");
  let assistantId = query.get("assistant") || (assistants[0] && assistants[0].id) || "";
  let threadId = query.get("thread") || null;

  const picker = h(
    "select",
    { name: "assistant", id: "assistant" },
    assistants.map((a) => h("option", { value: a.id, selected: a.id === assistantId }, `${a.name || "(no name)"} · ${a.model}`)),
  );
  const threadInfo = h("p.thread-info.muted");
  const messages = h("div.messages", { "aria-live": "polite" });
  const text = h("textarea", { name: "message", rows: 3, placeholder: "Write a message…", required: true });
  const attach = h("input", { type: "file", name: "attachments", multiple: true });
  const send = h("button.primary", { type: "submit" }, "Send");
  const problem = h("div.problem");
  const runHead = h("div.run-head.muted", {}, "No run yet.");
  const steps = h("ol.live-steps");
  const stepItems = new Map();
  const shownSteps = new Map();
  const bubbles = new Map();

  const showThread = () => {
    replace(threadInfo, threadId ? ["Thread ", link(`/threads/${threadId}`, threadId)] : "A new thread starts with the first message.");
    const params = new URLSearchParams();
    if (assistantId) params.set("assistant", assistantId);
    if (threadId) params.set("thread", threadId);
    setAddress(`/playground?${params}`);
  };

  picker.addEventListener("change", () => {
    assistantId = picker.value;
    showThread();
  });

  const composer = h(
    "form.composer",
    { onsubmit: (event) => submit(event) },
    text,
    h("div.composer-bar", {}, h("label.attach", {}, "Attach files ", attach), send),
    problem,
  );

  const handlers = {
    run(run) {
      replace(
        runHead,
        link(`/threads/${run.thread_id}/runs/${run.id}`, run.id, { class: "inspect-link", title: "Open the run inspector" }),
        " ",
        status(run.status),
      );
      if (run.status === "requires_action") askForOutputs(run);
      if (run.last_error) problem.append(errorBox(`${run.last_error.code}: ${run.last_error.message}`));
    },
    step(step) {
      shownSteps.set(step.id, step);
      let item = stepItems.get(step.id);
      if (!item) {
        item = h("li.live-step", { "data-step-id": step.id });
        stepItems.set(step.id, item);
        steps.append(item);
      }
      const calls = step.type === "tool_calls" ? step.step_details.tool_calls || [] : [];
      replace(
        item,
        h("div.step-line", {}, h("strong", {}, stepTitle(step)), " ", status(step.status)),
        calls.map((call) => callSummary(call)),
      );
    },
    stepDelta(delta) {
      const step = shownSteps.get(delta.id);
      if (step) handlers.step(applyStepDelta(step, delta));
    },
    message(msg, event) {
      if (msg.role !== "assistant" || event === "thread.message.in_progress") return;
      const shown = event === "thread.message.created" ? streamingBubble(msg) : message(msg, msg.thread_id);
      const old = bubbles.get(msg.id);
      if (old) old.replaceWith(shown);
      else messages.append(shown);
      bubbles.set(msg.id, shown);
      shown.scrollIntoView({ block: "end" });
    },
    messageDelta(delta) {
      const bubble = bubbles.get(delta.id);
      if (!bubble) return;
      bubble.querySelector(".streaming").textContent += deltaText(delta);
    },
    error(data) {
      problem.append(errorBox((data && data.message) || "The stream failed."));
    },
  };

  function streamingBubble(msg) {
    return h(
      "article.message.role-assistant.in-progress",
      { "data-message-id": msg.id },
      h("header", {}, h("strong", {}, "assistant"), h("span.muted", {}, " writing…")),
      h("div.content", {}, h("div.text.streaming")),
    );
  }

  function callSummary(call) {
    if (call.type === "function") {
      return h("div.call", {}, h("code", {}, `${call.function.name}(`), jsonBlock(call.function.arguments), h("code", {}, ")"),
        call.function.output != null ? h("div.muted", {}, "→ ", call.function.output) : null);
    }
    if (call.type === "file_search") {
      const results = (call.file_search && call.file_search.results) || [];
      return h("div.call.muted", {}, `file_search: ${results.length} results`);
    }
    if (call.type === "code_interpreter") {
      const ci = call.code_interpreter || {};
      return h("div.call", {}, h("pre.code", {}, ci.input || ""), (ci.outputs || []).filter((o) => o.logs).map((o) => h("pre.logs", {}, o.logs)));
    }
    return null;
  }

  async function stream(method, path, body) {
    send.disabled = true;
    try {
      await follow(events(method, path, { body, signal }), handlers);
    } catch (error) {
      if (!signal.aborted) problem.append(errorBox(error));
    } finally {
      send.disabled = false;
    }
  }

  function startRun() {
    steps.replaceChildren();
    stepItems.clear();
    shownSteps.clear();
    replace(runHead, "Starting a run…");
    return stream("POST", `/threads/${threadId}/runs`, { assistant_id: assistantId, stream: true });
  }

  function askForOutputs(run) {
    const calls = run.required_action.submit_tool_outputs.tool_calls;
    const boxes = calls.map((call) => h("textarea.mono", { name: `output-${call.id}`, rows: 3, "data-call-id": call.id, required: true }));
    const form = h(
      "form.card.tool-outputs",
      {
        onsubmit: async (event) => {
          event.preventDefault();
          form.querySelector("button").disabled = true;
          const tool_outputs = calls.map((call, i) => ({ tool_call_id: call.id, output: boxes[i].value }));
          form.replaceWith(h("p.muted.submitted", {}, `Outputs sent for ${calls.map((c) => c.function.name).join(", ")}.`));
          await stream("POST", `/threads/${run.thread_id}/runs/${run.id}/submit_tool_outputs`, { tool_outputs, stream: true });
        },
      },
      h("h3", {}, "The run needs function output"),
      calls.map((call, i) =>
        h(
          "div.required-call",
          {},
          h("p", {}, h("code.function-name", {}, call.function.name), h("code.muted", {}, ` ${call.id}`)),
          jsonBlock(call.function.arguments, { class: "arguments" }),
          field("Output", boxes[i]),
        ),
      ),
      h("button.primary", { type: "submit" }, "Submit output"),
    );
    messages.append(form);
    boxes[0]?.focus();
  }

  async function submit(event) {
    event.preventDefault();
    replace(problem);
    if (!assistantId) {
      problem.append(errorBox("Create an assistant first."));
      return;
    }
    const content = text.value.trim();
    if (!content) return;
    send.disabled = true;
    try {
      const tools = attachmentTools();
      const uploads = await Promise.all([...attach.files].map((file) => upload(file, "assistants")));
      if (!threadId) {
        threadId = (await post("/threads", {})).id;
        showThread();
      }
      const attachments = uploads.map((file) => ({ file_id: file.id, tools }));
      const sent = await post(`/threads/${threadId}/messages`, { role: "user", content, attachments: attachments.length ? attachments : undefined });
      messages.append(message(sent, threadId));
      text.value = "";
      attach.value = "";
    } catch (error) {
      problem.append(errorBox(error));
      send.disabled = false;
      return;
    }
    await startRun();
  }

  // Attached files go to the tools the assistant has (file_search when it has neither).
  function attachmentTools() {
    const assistant = assistants.find((a) => a.id === assistantId);
    const types = (assistant ? assistant.tools : []).map((t) => t.type).filter((t) => t === "file_search" || t === "code_interpreter");
    return (types.length ? types : ["file_search"]).map((type) => ({ type }));
  }

  const newThread = h("button.quiet", { type: "button", onclick: () => { threadId = null; messages.replaceChildren(); steps.replaceChildren(); replace(runHead, "No run yet."); showThread(); } }, "New thread");

  replace(
    main,
    page("Playground"),
    modeSwitch("assistants"),
    assistants.length ? null : h("p", {}, "No assistants yet: ", link("/assistants/new", "create one"), " first."),
    h(
      "div.playground",
      {},
      h("section.setup.card", {}, field("Assistant", picker), threadInfo, newThread),
      h("section.chat.card", {}, messages, composer),
      h("aside.steps-panel.card", {}, h("h2", {}, "Run steps"), runHead, steps),
    ),
  );
  showThread();
  if (threadId) await resume();

  // A reloaded playground shows its thread, and its latest run as it stands (live if it is).
  async function resume() {
    for (const msg of await listAll(`/threads/${threadId}/messages`, { order: "asc" })) messages.append(message(msg, threadId));
    const [run] = (await get(`/threads/${threadId}/runs`, { limit: 1 })).data;
    if (!run) return;
    for (const step of await listAll(`/threads/${threadId}/runs/${run.id}/steps`, { order: "asc" })) handlers.step(step);
    handlers.run(run);
    if (LIVE.includes(run.status)) await stream("GET", `/threads/${threadId}/runs/${run.id}/events`);
  }
}
