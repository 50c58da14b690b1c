// The run inspector: one run's settings, usage and outcome, and a timeline of its steps in
// order, each of which opens on what it did. A run in progress updates as it goes.
import { events, get, listAll } from "./api.js";
import { applyStepDelta, deltaText, follow, LIVE } from "./live.js";
import { stepDetails, stepTitle } from "./steps.js";
import { duration, errorBox, h, jsonBlock, link, page, replace, status, time, usage } from "./ui.js";

const CONTENT = "step_details.tool_calls[*].file_search.results[*].content";
// A Threadline extension: the query each file_search call searched for.
const QUERY = "step_details.tool_calls[*].file_search.query";

function endOf(thing) {
  return thing.completed_at || thing.failed_at || thing.cancelled_at || thing.expired_at || null;
}

function span(thing, now) {
  const start = thing.started_at || thing.created_at;
  const end = endOf(thing) || (LIVE.includes(thing.status) ? now : null);
  return end && start ? end - start : null;
}

function setting(label, value) {
  return [h("dt", {}, label), h("dd", {}, value === null || value === undefined || value === "" ? "—" : value)];
}

function summary(run) {
  const now = Math.floor(Date.now() / 1000);
  const format = typeof run.response_format === "string" ? run.response_format : jsonBlock(run.response_format);
  return h(
    "section.card.run-summary",
    {},
    h(
      "dl.facts",
      {},
      setting("Status", status(run.status)),
      setting("Assistant", link(`/assistants/${run.assistant_id}`, run.assistant_id)),
      setting("Model", h("span.run-model", {}, run.model)),
      setting("Created", time(run.created_at)),
      setting("Started", time(run.started_at)),
      setting("Ended", time(endOf(run))),
      setting("Duration", duration(span(run, now))),
      setting("Usage", h("span.run-usage", {}, usage(run.usage))),
      setting("Temperature", run.temperature),
      setting("top_p", run.top_p),
      setting("Response format", format),
      setting("Tool choice", typeof run.tool_choice === "string" ? run.tool_choice : jsonBlock(run.tool_choice)),
      setting("Parallel tool calls", String(run.parallel_tool_calls)),
      setting("Max prompt tokens", run.max_prompt_tokens),
      setting("Max completion tokens", run.max_completion_tokens),
      setting("Truncation", run.truncation_strategy ? jsonBlock(run.truncation_strategy) : null),
      setting("Tools", run.tools.map((t) => (t.type === "function" ? `function ${t.function.name}` : t.type)).join(", ")),
    ),
    run.last_error ? h("div.error.last-error", { role: "alert" }, h("strong", {}, `last_error: ${run.last_error.code}`), " ", run.last_error.message) : null,
    run.incomplete_details ? h("div.error.incomplete", {}, h("strong", {}, "incomplete_details: "), run.incomplete_details.reason) : null,
    run.required_action ? h("div.notice", {}, "Waiting for function output: ", link(`/playground?assistant=${run.assistant_id}&thread=${run.thread_id}`, "answer it in the playground")) : null,
    run.instructions ? h("details", {}, h("summary", {}, "Instructions"), h("pre.wrap", {}, run.instructions)) : null,
    run.tools.length ? h("details", {}, h("summary", {}, "Tool definitions"), jsonBlock(run.tools)) : null,
    Object.keys(run.metadata || {}).length ? h("details", {}, h("summary", {}, "Metadata"), jsonBlock(run.metadata)) : null,
  );
}

export async function runInspector(main, [threadId, runId], { signal }) {
  let run = await get(`/threads/${threadId}/runs/${runId}`);
  const steps = new Map();
  const open = new Set();
  const liveText = new Map(); // message id -> the text streamed so far
  const summaryHolder = h("div");
  const timeline = h("ol.timeline");

  async function load() {
    run = await get(`/threads/${threadId}/runs/${runId}`);
    steps.clear();
    for (const step of await listAll(`/threads/${threadId}/runs/${runId}/steps`, { order: "asc", "include[]": [CONTENT, QUERY] })) steps.set(step.id, step);
    draw();
  }

  function draw() {
    replace(summaryHolder, summary(run));
    const ordered = [...steps.values()].sort((a, b) => a.created_at - b.created_at);
    const now = Math.floor(Date.now() / 1000);
    const start = run.started_at || run.created_at;
    const total = Math.max(1, (endOf(run) || now) - start);
    replace(
      timeline,
      ordered.length ? null : h("p.muted", {}, "No steps yet."),
      ordered.map((step, index) => {
        const took = span(step, now);
        const bar = h("span.bar");
        bar.style.marginLeft = `${(100 * Math.max(0, step.created_at - start)) / total}%`;
        bar.style.width = `${Math.max(2, (100 * (took || 0)) / total)}%`;
        const details = h(
          "details.step",
          { "data-step-id": step.id, "data-step-type": step.type, open: open.has(step.id) },
          h(
            "summary",
            {},
            h("span.step-index", {}, `${index + 1}`),
            h("span.step-title", {}, stepTitle(step)),
            status(step.status),
            h("span.step-times.muted", {}, `${time(step.created_at)} → ${time(endOf(step))} · ${duration(took)}`),
            h("span.step-usage.muted", {}, usage(step.usage)),
            h("span.track", {}, bar),
          ),
          step.last_error ? h("p.error", {}, `${step.last_error.code}: ${step.last_error.message}`) : null,
          h("p.muted", {}, h("code", {}, step.id)),
        );
        details.addEventListener("toggle", () => {
          if (details.open) {
            open.add(step.id);
            if (!details.querySelector(".step-details")) details.append(detailsOf(step));
          } else open.delete(step.id);
        });
        if (details.open) details.append(detailsOf(step));
        return h("li", {}, details);
      }),
    );
  }

  function detailsOf(step) {
    const shown = stepDetails(step, threadId);
    if (step.type === "message_creation" && step.status === "in_progress") {
      const id = step.step_details.message_creation.message_id;
      shown.append(h("div.text.streaming", { "data-message-id": id }, liveText.get(id) || ""));
    }
    return shown;
  }

  replace(
    main,
    page(`Run ${runId}`),
    h("p.crumbs", {}, link("/threads", "Threads"), " / ", link(`/threads/${threadId}`, threadId), " / ", runId),
    summaryHolder,
    h("h2", {}, "Steps"),
    timeline,
  );
  await load();

  if (!LIVE.includes(run.status)) return;
  // Live: the run's events from its start (the re-attach extension), then a full reload,
  // which brings what the events leave out (file_search queries).
  const banner = h("p.notice.live", { role: "status" }, "Live: this run is in progress.");
  summaryHolder.before(banner);
  try {
    await follow(events("GET", `/threads/${threadId}/runs/${runId}/events`, { query: { "include[]": CONTENT }, signal }), {
      run(data) {
        run = data;
        draw();
      },
      step(step) {
        steps.set(step.id, step);
        draw();
      },
      stepDelta(delta) {
        const step = steps.get(delta.id);
        if (step) {
          applyStepDelta(step, delta);
          draw();
        }
      },
      messageDelta(delta) {
        liveText.set(delta.id, (liveText.get(delta.id) || "") + deltaText(delta));
        const shown = timeline.querySelector(`.streaming[data-message-id="${delta.id}"]`);
        if (shown) shown.textContent = liveText.get(delta.id);
      },
      error(data) {
        banner.after(errorBox((data && data.message) || "The event stream failed."));
      },
    });
  } finally {
    if (!signal.aborted) {
      banner.remove();
      await load();
    }
  }
}
