// Items of the Responses and Conversations APIs, as a conversation, a response and the
// playground show them: messages with their annotations, function calls and their outputs,
// file searches with their queries and results, code with its logs and images.
import { containerFileUrl } from "./api.js";
import { fileLink, image } from "./messages.js";
import { codeOutputs, searchResults } from "./steps.js";
import { code, errorBox, h, jsonBlock, link, status } from "./ui.js";

// What the console asks every list and read of items to add: search results, code outputs.
export const INCLUDE = ["file_search_call.results", "code_interpreter_call.outputs"];

// `thread_X` is `conv_X`: the same body after the prefix.
export function conversationId(id) {
  return `conv_${id.slice(id.lastIndexOf("_") + 1)}`;
}

export function threadId(id) {
  return `thread_${id.slice(id.lastIndexOf("_") + 1)}`;
}

export function item(it) {
  if (it.type === "message") return messageItem(it);
  if (it.type === "function_call") return functionCall(it);
  if (it.type === "function_call_output") return functionOutput(it);
  if (it.type === "file_search_call") return fileSearchCall(it);
  if (it.type === "code_interpreter_call") return codeInterpreterCall(it);
  return h("section.item.tool-call", { "data-item-type": it.type, "data-item-id": it.id }, head(it.type, it), jsonBlock(it));
}

function head(title, it) {
  return h(
    "h4",
    {},
    title,
    it.status ? [" ", status(it.status)] : null,
    it.id ? h("code.muted", {}, ` ${it.id}`) : null,
  );
}

function messageItem(it) {
  const writing = it.status === "in_progress";
  return h(
    "article.message.item",
    { class: `role-${it.role}${writing ? " in-progress" : ""}`, id: it.id || null, "data-item-id": it.id || null, "data-item-type": "message" },
    h(
      "header",
      {},
      h("strong", {}, it.role),
      writing ? h("span.muted", {}, " writing…") : it.status && it.status !== "completed" ? h("span.muted", {}, ` · ${it.status}`) : null,
      it.id ? h("code.muted", {}, ` ${it.id}`) : null,
    ),
    h("div.content", {}, (it.content || []).map((part) => contentPart(part, writing))),
  );
}

function contentPart(part, writing) {
  if (part.type === "input_text") return h("div.text", {}, part.text);
  if (part.type === "output_text") return outputText(part, writing);
  if (part.type === "refusal") return h("p.error", {}, part.refusal);
  if (part.type === "input_image") {
    if (part.file_id) return image(part.file_id);
    return part.image_url ? h("img.content-image", { src: part.image_url, alt: "image" }) : h("span.muted", {}, "(an image)");
  }
  if (part.type === "input_file") {
    if (part.file_id) return h("p.input-file", {}, "File: ", fileLink(part.file_id));
    return h("p.input-file.muted", {}, `File: ${part.filename || "(given inline)"}`);
  }
  return jsonBlock(part);
}

// An answer's text with its annotations: a citation of a file (at a point of the text)
// links to the file; a range of text citing a container's file downloads it; a cited URL
// opens it.
function outputText(part, writing) {
  const block = h(writing ? "div.text.streaming" : "div.text");
  const value = part.text || "";
  const notes = (part.annotations || [])
    .map((note) => ({ note, start: note.start_index ?? markerStart(value, note), end: note.end_index ?? note.index }))
    .filter(({ start, end }) => Number.isInteger(start) && Number.isInteger(end) && start <= end)
    .sort((a, b) => a.start - b.start || a.end - b.end);
  let at = 0;
  for (const { note, start, end } of notes) {
    if (start < at) continue;
    block.append(value.slice(at, start));
    block.append(annotation(note, value.slice(start, end)));
    at = end;
  }
  block.append(value.slice(at));
  return block;
}

// A file citation marks a point of the text: just after its marker (`【0†leave.md】`) when
// the text keeps one, which then is the citation's link.
function markerStart(value, note) {
  if (!Number.isInteger(note.index)) return undefined;
  const marker = value.slice(0, note.index).match(/【[^【】]*】$/);
  return marker ? note.index - marker[0].length : note.index;
}

function annotation(note, cited) {
  if (note.type === "file_citation" || note.type === "file_path") {
    const name = note.filename || note.file_id;
    const kind = note.type === "file_citation" ? "citation" : "file-path";
    return link(`/files/${note.file_id}`, cited || `[${name}]`, { class: kind, title: `${note.type === "file_citation" ? "Cites" : "File"} ${name}`, "data-file-id": note.file_id });
  }
  if (note.type === "container_file_citation") return containerFile(note, cited);
  if (note.type === "url_citation" && /^https?:\/\//i.test(note.url || "")) {
    return h("a.url-citation", { href: note.url, target: "_blank", rel: "noopener noreferrer", title: note.title || note.url }, cited || note.title || note.url);
  }
  return h("span", {}, cited);
}

// A link that downloads a container's file: its bytes are fetched with the key (a plain
// link cannot send it), then saved under the file's name.
function containerFile(note, cited) {
  const path = `/v1/containers/${note.container_id}/files/${note.file_id}/content`;
  const name = note.filename || note.file_id;
  const anchor = h(
    "a.container-file",
    { href: path, download: name, title: `Download ${name} (container ${note.container_id})`, "data-container-id": note.container_id, "data-file-id": note.file_id },
    cited || `[${name}]`,
  );
  anchor.addEventListener("click", async (event) => {
    event.preventDefault();
    try {
      const saving = h("a", { href: await containerFileUrl(note.container_id, note.file_id), download: name, hidden: true });
      document.body.append(saving);
      saving.click();
      saving.remove();
    } catch (error) {
      anchor.after(errorBox(error));
    }
  });
  return anchor;
}

function functionCall(it) {
  return h(
    "section.item.tool-call.function-call",
    { "data-item-type": it.type, "data-item-id": it.id },
    head(`function ${it.name}`, it),
    h("p.muted", {}, "call ", h("code", {}, it.call_id)),
    h("h5", {}, "Arguments"),
    jsonBlock(it.arguments || "", { class: "arguments" }),
  );
}

function functionOutput(it) {
  return h(
    "section.item.tool-call.function-output",
    { "data-item-type": it.type, "data-item-id": it.id },
    head("function output", it),
    h("p.muted", {}, "for call ", h("code", {}, it.call_id)),
    jsonBlock(it.output, { class: "output" }),
  );
}

function fileSearchCall(it) {
  const queries = it.queries || [];
  const done = !["in_progress", "searching"].includes(it.status);
  return h(
    "section.item.tool-call.file-search-call",
    { "data-item-type": it.type, "data-item-id": it.id },
    head("file_search", it),
    h("h5", {}, queries.length > 1 ? "Queries" : "Query"),
    queries.length ? queries.map((q) => h("p.query", {}, q)) : h("p.muted", {}, "—"),
    it.results ? searchResults(it.results) : h("p.muted", {}, done ? "Results not included." : "Searching…"),
  );
}

function codeInterpreterCall(it) {
  const done = !["in_progress", "interpreting"].includes(it.status);
  return h(
    "section.item.tool-call.code-call",
    { "data-item-type": it.type, "data-item-id": it.id },
    head("code_interpreter", it),
    it.container_id ? h("p.muted", {}, "container ", h("code", {}, it.container_id)) : null,
    h("h5", {}, "Code"),
    code(it.code || ""),
    it.outputs ? codeOutputs(it.outputs) : h("p.muted", {}, done ? "Outputs not included." : "Running…"),
  );
}

// Items on the page, in their order, each drawn again on its own as it changes.
export class ItemsView {
  constructor(tag = "div.items", empty = "No items.") {
    this.element = h(tag);
    this.empty = empty;
    this.shown = [];
  }

  show(items) {
    this.shown = [];
    this.element.replaceChildren();
    items.forEach((it, index) => this.put(index, it));
    if (!items.length) this.element.append(h("p.muted.empty", {}, this.empty));
  }

  put(index, it) {
    this.element.querySelector(":scope > .empty")?.remove();
    const next = item(it);
    const old = this.shown[index];
    if (old) old.replaceWith(next);
    else {
      const after = this.shown.slice(index + 1).find(Boolean);
      this.element.insertBefore(next, after || null);
    }
    this.shown[index] = next;
    return next;
  }
}

// A response's token usage.
export function responseUsage(u) {
  if (!u) return "—";
  return `${u.input_tokens} in · ${u.output_tokens} out · ${u.total_tokens} total`;
}
