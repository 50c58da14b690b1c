// A run step's details: the message it created, or its tool calls with their arguments,
// outputs, search results and code.
import { get } from "./api.js";
import { message } from "./messages.js";
import { image } from "./messages.js";
import { code, h, jsonBlock, link } from "./ui.js";

export function stepTitle(step) {
  if (step.type === "message_creation") return "Message creation";
  const calls = step.step_details.tool_calls || [];
  const names = calls.map((c) => (c.type === "function" ? `function ${c.function.name}` : c.type));
  return `Tool calls: ${names.join(", ") || "…"}`;
}

export function stepDetails(step, threadId, fileNames = new Map()) {
  const box = h("div.step-details");
  if (step.type === "message_creation") {
    const id = step.step_details.message_creation.message_id;
    box.append(h("p.muted", {}, "Message ", link(`/threads/${threadId}#${id}`, id)));
    const holder = h("div.message-holder");
    box.append(holder);
    get(`/threads/${threadId}/messages/${id}`)
      .then((msg) => holder.replaceChildren(message(msg, threadId)))
      .catch((error) => holder.replaceChildren(h("p.error", {}, error.message)));
    return box;
  }
  for (const call of step.step_details.tool_calls || []) box.append(toolCall(call, fileNames));
  return box;
}

function toolCall(call, fileNames) {
  const head = h("h4", {}, call.type === "function" ? `function ${call.function.name}` : call.type, h("code.muted", {}, ` ${call.id}`));
  if (call.type === "function") {
    return h(
      "section.tool-call.function-call",
      {},
      head,
      h("h5", {}, "Arguments"),
      jsonBlock(call.function.arguments, { class: "arguments" }),
      h("h5", {}, "Output"),
      call.function.output === null || call.function.output === undefined
        ? h("p.muted", {}, "No output yet.")
        : jsonBlock(call.function.output, { class: "output" }),
    );
  }
  if (call.type === "file_search") return fileSearch(head, call.file_search || {}, fileNames);
  if (call.type === "code_interpreter") return codeInterpreter(head, call.code_interpreter || {});
  return h("section.tool-call", {}, head, jsonBlock(call));
}

function fileSearch(head, search, fileNames) {
  return h(
    "section.tool-call.file-search-call",
    {},
    head,
    h("h5", {}, "Query"),
    search.query === undefined ? h("p.muted", {}, "—") : h("p.query", {}, search.query),
    h("h5", {}, "Ranking options"),
    search.ranking_options ? jsonBlock(search.ranking_options, { class: "ranking" }) : h("p.muted", {}, "—"),
    searchResults(search.results || [], fileNames),
  );
}

// A search's results, ranked: each with its file (a link), its score and its text. A run
// step's result has `file_name` and `content` parts; a Responses item's, `filename` and
// `text`.
export function searchResults(results, fileNames = new Map()) {
  return [
    h("h5", {}, `Results (${results.length})`),
    results.length
      ? h(
          "ol.results",
          {},
          results.map((r) =>
            h(
              "li.result",
              {},
              h(
                "div.result-head",
                {},
                link(`/files/${r.file_id}`, r.file_name || r.filename || fileNames.get(r.file_id) || r.file_id, { class: "file-name" }),
                h("span.score", {}, `score ${Number(r.score).toFixed(4)}`),
              ),
              r.content ? r.content.map((c) => h("blockquote.chunk", {}, c.text)) : r.text ? h("blockquote.chunk", {}, r.text) : null,
            ),
          ),
        )
      : h("p.muted", {}, "No results."),
  ];
}

function codeInterpreter(head, interpreter) {
  return h("section.tool-call.code-call", {}, head, h("h5", {}, "Code"), code(interpreter.input || ""), codeOutputs(interpreter.outputs || []));
}

// Code's logs and the images it made: a run step's images are files, a Responses item's
// carry their bytes in a `data:` URL.
export function codeOutputs(outputs) {
  const logs = outputs.filter((o) => o.type === "logs").map((o) => o.logs).join("");
  const images = outputs.filter((o) => o.type === "image");
  return [
    h("h5", {}, "Logs"),
    logs ? h("pre.logs", {}, logs) : h("p.muted", {}, "No logs."),
    images.length
      ? [
          h("h5", {}, "Images"),
          h(
            "div.images",
            {},
            images.map((o) => {
              if (o.image) return image(o.image.file_id, "output image");
              return o.url ? h("img.content-image", { src: o.url, alt: "output image" }) : h("span.muted", {}, "(an image no longer kept)");
            }),
          ),
        ]
      : null,
  ];
}
