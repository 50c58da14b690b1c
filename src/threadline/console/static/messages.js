// A message: its text with annotations (citations link to the cited file), its images,
// its attachments and the run that wrote it.
import { fileUrl, get } from "./api.js";
import { h, link, time } from "./ui.js";

export function image(fileId, alt = "image") {
  const img = h("img.content-image", { alt, "data-file-id": fileId });
  fileUrl(fileId)
    .then((url) => {
      img.src = url;
    })
    .catch((error) => {
      img.replaceWith(h("span.error", {}, `${fileId}: ${error.message}`));
    });
  return img;
}

export function annotatedText(text) {
  const block = h("div.text");
  const annotations = [...(text.annotations || [])].sort((a, b) => a.start_index - b.start_index);
  let at = 0;
  const value = text.value || "";
  for (const note of annotations) {
    if (note.start_index < at) continue;
    block.append(value.slice(at, note.start_index));
    block.append(annotation(note));
    at = note.end_index;
  }
  block.append(value.slice(at));
  return block;
}

function annotation(note) {
  if (note.type === "file_citation") {
    const id = note.file_citation.file_id;
    return link(`/files/${id}`, note.text, { class: "citation", title: `Cites ${id}`, "data-file-id": id });
  }
  if (note.type === "file_path") {
    const id = note.file_path.file_id;
    return link(`/files/${id}`, note.text, { class: "file-path", title: `File ${id}`, "data-file-id": id });
  }
  return h("span", {}, note.text);
}

export function contentPart(part) {
  if (part.type === "text") return annotatedText(part.text);
  if (part.type === "image_file") return image(part.image_file.file_id);
  if (part.type === "image_url") return h("img.content-image", { src: part.image_url.url, alt: "image" });
  if (part.type === "refusal") return h("p.error", {}, part.refusal);
  return h("pre.json", {}, JSON.stringify(part, null, 2));
}

// A link to a file, named by its file name once that is known.
export function fileLink(fileId) {
  const anchor = link(`/files/${fileId}`, fileId, { "data-file-id": fileId, title: fileId });
  get(`/files/${fileId}`)
    .then((file) => {
      anchor.textContent = file.filename;
    })
    .catch(() => {}); // a deleted file keeps its id
  return anchor;
}

export function message(msg, threadId) {
  const attachments = (msg.attachments || []).map((a) =>
    h(
      "li",
      {},
      fileLink(a.file_id),
      ` (${(a.tools || []).map((t) => t.type).join(", ") || "no tool"})`,
    ),
  );
  return h(
    "article.message",
    { class: `role-${msg.role}`, id: msg.id, "data-message-id": msg.id },
    h(
      "header",
      {},
      h("strong", {}, msg.role),
      h("span.muted", {}, ` ${time(msg.created_at)}`),
      msg.status && msg.status !== "completed" ? h("span.muted", {}, ` · ${msg.status}`) : null,
      msg.run_id
        ? [" · ", link(`/threads/${threadId}/runs/${msg.run_id}`, `run ${msg.run_id}`, { class: "run-link" })]
        : null,
    ),
    h("div.content", {}, (msg.content || []).map(contentPart)),
    attachments.length ? h("div.attachments", {}, h("span.muted", {}, "Attachments"), h("ul", {}, attachments)) : null,
  );
}
