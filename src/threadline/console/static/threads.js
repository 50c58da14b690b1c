// Threads: the project's threads, newest first, narrowed by id prefix and metadata (the
// thread-list extension); and one thread's messages and runs.
import { get, listAll } from "./api.js";
import { navigate } from "./app.js";
import { message } from "./messages.js";
import { field, h, jsonBlock, link, page, pagedRows, replace, status, table, time, usage } from "./ui.js";

// "team=blue, stage=test" -> {"metadata[team]": "blue", "metadata[stage]": "test"}
function metadataQuery(text) {
  const query = {};
  for (const pair of text.split(",")) {
    const at = pair.indexOf("=");
    if (at > 0) query[`metadata[${pair.slice(0, at).trim()}]`] = pair.slice(at + 1).trim();
  }
  return query;
}

export async function list(main, _params, { query }) {
  const id = h("input", { name: "id", value: query.get("id") || "", placeholder: "thread_…" });
  const metadata = h("input", { name: "metadata", value: query.get("metadata") || "", placeholder: "key=value, key2=value2" });
  const { rows, more, holder, nextPage } = pagedRows(
    (after) => get("/threads", { limit: 50, after, id: query.get("id") || undefined, ...metadataQuery(query.get("metadata") || "") }),
    (thread) => {
      return (
        h(
          "tr",
          {},
          h("td", {}, link(`/threads/${thread.id}`, thread.id)),
          h("td", {}, time(thread.created_at)),
          h("td", {}, Object.entries(thread.metadata || {}).map(([k, v]) => h("span.tag", {}, `${k}=${v}`))),
        )
      );
    },
    "No threads match.",
  );

  const form = h(
    "form.card.search",
    {
      onsubmit: (event) => {
        event.preventDefault();
        const params = new URLSearchParams();
        if (id.value.trim()) params.set("id", id.value.trim());
        if (metadata.value.trim()) params.set("metadata", metadata.value.trim());
        navigate(`/threads${params.toString() ? `?${params}` : ""}`);
      },
    },
    h("div.row", {}, field("ID starts with", id), field("Metadata", metadata)),
    h("button.primary", { type: "submit" }, "Search"),
  );
  replace(
    main,
    page("Threads"),
    form,
    h("div.table-wrap", {}, h("table.threads", {}, h("thead", {}, h("tr", {}, h("th", {}, "ID"), h("th", {}, "Created"), h("th", {}, "Metadata"))), rows)),
    holder,
    more,
  );
  await nextPage();
}

export async function view(main, [threadId]) {
  const [thread, messages, runs] = await Promise.all([
    get(`/threads/${threadId}`),
    listAll(`/threads/${threadId}/messages`, { order: "asc" }),
    listAll(`/threads/${threadId}/runs`),
  ]);
  const runRows = runs.map((run) =>
    h(
      "tr",
      {},
      h("td", {}, link(`/threads/${threadId}/runs/${run.id}`, run.id)),
      h("td", {}, status(run.status)),
      h("td", {}, run.model),
      h("td", {}, time(run.created_at)),
      h("td", {}, usage(run.usage)),
    ),
  );
  const lastAssistant = runs[0] && runs[0].assistant_id;
  replace(
    main,
    page(`Thread ${threadId}`),
    h("p.crumbs", {}, link("/threads", "Threads"), " / ", threadId),
    h(
      "p.muted",
      {},
      `Created ${time(thread.created_at)}`,
      lastAssistant ? [" · ", link(`/playground?assistant=${lastAssistant}&thread=${threadId}`, "Continue in the playground")] : null,
    ),
    Object.keys(thread.metadata || {}).length ? h("details", {}, h("summary", {}, "Metadata"), jsonBlock(thread.metadata)) : null,
    thread.tool_resources && Object.keys(thread.tool_resources).length ? h("details", {}, h("summary", {}, "Tool resources"), jsonBlock(thread.tool_resources)) : null,
    h("h2", {}, "Messages"),
    messages.length ? h("div.messages.thread-messages", {}, messages.map((m) => message(m, threadId))) : h("p.muted", {}, "No messages."),
    h("h2", {}, "Runs"),
    table(["Run", "Status", "Model", "Created", "Usage"], runRows, "No runs."),
  );
  if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
}
