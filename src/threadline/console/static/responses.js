// Responses: the project's stored responses, newest first (the response-list extension),
// and one response: its settings, usage and outcome, its input items and its output items.
// A response still running updates as it goes, from its event stream.
import { events, get, listAll } from "./api.js";
import { applyResponseEvent, followResponse, RESPONSE_LIVE } from "./live.js";
import { INCLUDE, ItemsView, responseUsage } from "./items.js";
import { errorBox, h, jsonBlock, link, page, pagedRows, replace, status, time } from "./ui.js";

function outputText(response) {
  return (response.output || [])
    .filter((it) => it.type === "message")
    .flatMap((it) => it.content || [])
    .filter((part) => part.type === "output_text")
    .map((part) => part.text)
    .join(" ");
}

function clip(text, most = 80) {
  return text.length > most ? `${text.slice(0, most - 1)}…` : text;
}

export async function list(main) {
  const { rows, more, holder, nextPage } = pagedRows(
    (after) => get("/responses", { limit: 50, after }),
    (response) => {
      const conversation = response.conversation && response.conversation.id;
      return (
        h(
          "tr",
          { "data-response-id": response.id },
          h("td", {}, link(`/responses/${response.id}`, response.id)),
          h("td", {}, status(response.status)),
          h("td", {}, response.model),
          h("td", {}, time(response.created_at)),
          h("td", {}, conversation ? link(`/conversations/${conversation}`, conversation) : h("span.muted", {}, "—")),
          h("td", {}, responseUsage(response.usage)),
          h("td.muted", {}, clip(outputText(response))),
        )
      );
    },
    "No responses yet.",
  );

  replace(
    main,
    page("Responses"),
    h("p.muted", {}, "The project's stored responses, newest first (a response made with store: false is not kept)."),
    h(
      "div.table-wrap",
      {},
      h(
        "table.responses",
        {},
        h("thead", {}, h("tr", {}, ["ID", "Status", "Model", "Created", "Conversation", "Usage", "Output"].map((x) => h("th", {}, x)))),
        rows,
      ),
    ),
    holder,
    more,
  );
  await nextPage();
}

function setting(label, value) {
  return [h("dt", {}, label), h("dd", {}, value === null || value === undefined || value === "" ? "—" : value)];
}

function toolName(tool) {
  if (tool.type === "function") return `function ${tool.name}`;
  if (tool.type === "file_search") return `file_search (${(tool.vector_store_ids || []).join(", ")})`;
  return tool.type;
}

function summary(response) {
  const conversation = response.conversation && response.conversation.id;
  const format = response.text && response.text.format;
  return h(
    "section.card.run-summary.response-summary",
    {},
    h(
      "dl.facts",
      {},
      setting("Status", status(response.status)),
      setting("Model", h("span.response-model", {}, response.model)),
      setting("Created", time(response.created_at)),
      setting("Completed", time(response.completed_at)),
      setting("Usage", h("span.response-usage", {}, responseUsage(response.usage))),
      setting("Conversation", conversation ? link(`/conversations/${conversation}`, conversation) : null),
      setting("Previous response", response.previous_response_id ? link(`/responses/${response.previous_response_id}`, response.previous_response_id) : null),
      setting("Background", String(Boolean(response.background))),
      setting("Temperature", response.temperature),
      setting("top_p", response.top_p),
      setting("Text format", format ? format.type : null),
      setting("Tool choice", typeof response.tool_choice === "string" ? response.tool_choice : jsonBlock(response.tool_choice)),
      setting("Truncation", response.truncation),
      setting("Max output tokens", response.max_output_tokens),
      setting("Tools", (response.tools || []).map(toolName).join(", ")),
    ),
    response.error ? h("div.error.last-error", { role: "alert" }, h("strong", {}, `error: ${response.error.code}`), " ", response.error.message) : null,
    response.incomplete_details ? h("div.error.incomplete", {}, h("strong", {}, "incomplete_details: "), response.incomplete_details.reason) : null,
    response.instructions ? h("details", {}, h("summary", {}, "Instructions"), h("pre.wrap", {}, typeof response.instructions === "string" ? response.instructions : JSON.stringify(response.instructions, null, 2))) : null,
    (response.tools || []).length ? h("details", {}, h("summary", {}, "Tool definitions"), jsonBlock(response.tools)) : null,
    Object.keys(response.metadata || {}).length ? h("details", {}, h("summary", {}, "Metadata"), jsonBlock(response.metadata)) : null,
  );
}

export async function view(main, [responseId], { signal }) {
  const path = `/responses/${encodeURIComponent(responseId)}`;
  const read = () => get(path, { include: INCLUDE }, signal);
  const [first, inputs] = await Promise.all([read(), listAll(`${path}/input_items`, { order: "asc", include: INCLUDE })]);
  let response = first;
  const summaryHolder = h("div");
  const inputView = new ItemsView("div.items.input-items", "No input items.");
  const outputView = new ItemsView("div.items.output-items", "No output yet.");

  function draw() {
    replace(summaryHolder, summary(response));
    outputView.show(response.output || []);
  }

  replace(
    main,
    page(`Response ${responseId}`),
    h("p.crumbs", {}, link("/responses", "Responses"), " / ", responseId),
    summaryHolder,
    h("h2", {}, "Input"),
    inputView.element,
    h("h2", {}, "Output"),
    outputView.element,
  );
  inputView.show(inputs);
  draw();

  if (!RESPONSE_LIVE.includes(response.status)) return;
  // Live: the response's events from its start, then a full read, which brings what its
  // stream leaves out (search results and code outputs its creation did not ask for).
  const banner = h("p.notice.live", { role: "status" }, "Live: this response is in progress.");
  summaryHolder.before(banner);
  const items = [...(response.output || [])];
  const announced = new Set();
  try {
    await followResponse(events("GET", path, { query: { stream: true }, signal }), {
      response(data) {
        response = { ...data, output: items };
        replace(summaryHolder, summary(response));
      },
      item(event, data) {
        const index = applyResponseEvent(items, event, data, announced);
        if (index !== null) outputView.put(index, items[index]);
      },
      error(data) {
        banner.after(errorBox((data && data.message) || "The event stream failed."));
      },
    });
  } finally {
    if (!signal.aborted) {
      banner.remove();
      response = await read();
      draw();
    }
  }
}
