// Vector stores: create and list them; one store's files with their ingestion status and
// errors, and a search box over its chunks.
import { del, get, listAll, post } from "./api.js";
import { navigate } from "./app.js";
import { bytes, confirmButton, errorBox, field, h, link, page, replace, status, table, time } from "./ui.js";

function counts(c) {
  return `${c.completed} ready · ${c.in_progress} ingesting · ${c.failed} failed`;
}

function fileChoices(files, exclude = new Set()) {
  return files
    .filter((f) => f.purpose === "assistants" && !exclude.has(f.id))
    .map((f) => h("label.check", {}, h("input", { type: "checkbox", value: f.id }), ` ${f.filename} `, h("code.muted", {}, f.id)));
}

const chosen = (boxes) => boxes.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value);

export async function list(main) {
  const [stores, files] = await Promise.all([listAll("/vector_stores"), listAll("/files", {}, 10000)]);
  const name = h("input", { name: "name", placeholder: "Handbook" });
  const choices = fileChoices(files);
  const problem = h("div.problem");
  const form = h(
    "form.card",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          const store = await post("/vector_stores", { name: name.value.trim() || undefined, file_ids: chosen(choices) });
          navigate(`/vector_stores/${store.id}`);
        } catch (error) {
          replace(problem, errorBox(error));
        }
      },
    },
    field("Name", name),
    choices.length ? h("div.choices", {}, h("span.muted", {}, "Files"), choices) : h("p.muted", {}, "Upload files (purpose assistants) to add them."),
    problem,
    h("button.primary", { type: "submit" }, "Create vector store"),
  );
  const rows = stores.map((s) =>
    h(
      "tr",
      {},
      h("td", {}, link(`/vector_stores/${s.id}`, s.name || "(no name)")),
      h("td", {}, h("code", {}, s.id)),
      h("td", {}, status(s.status)),
      h("td", {}, counts(s.file_counts)),
      h("td", {}, bytes(s.usage_bytes)),
      h("td", {}, time(s.created_at)),
    ),
  );
  replace(main, page("Vector stores"), form, table(["Name", "ID", "Status", "Files", "Size", "Created"], rows, "No vector stores yet."));
}

export async function view(main, [storeId], { signal }) {
  const [store, allFiles] = await Promise.all([get(`/vector_stores/${storeId}`), listAll("/files", {}, 10000)]);
  const names = new Map(allFiles.map((f) => [f.id, f.filename]));
  const filesHolder = h("div");
  const summary = h("p.muted");
  const problem = h("div.problem");

  async function refresh() {
    const [current, entries] = await Promise.all([get(`/vector_stores/${storeId}`), listAll(`/vector_stores/${storeId}/files`)]);
    replace(summary, h("code", {}, current.id), " · ", status(current.status), ` · ${counts(current.file_counts)} · ${bytes(current.usage_bytes)}`);
    const rows = entries.map((e) =>
      h(
        "tr",
        { "data-file-id": e.id },
        h("td", {}, link(`/files/${e.id}`, names.get(e.id) || e.id)),
        h("td", {}, status(e.status)),
        h("td", {}, e.last_error ? h("span.error", {}, `${e.last_error.code}: ${e.last_error.message}`) : "—"),
        h("td", {}, bytes(e.usage_bytes)),
        h("td", {}, confirmButton("Remove", async () => {
          await del(`/vector_stores/${storeId}/files/${e.id}`);
          await refresh();
        })),
      ),
    );
    replace(filesHolder, table(["File", "Ingestion", "Error", "Size", ""], rows, "No files in this store."));
    addChoices.replaceChildren(...fileChoices(allFiles, new Set(entries.map((e) => e.id))));
    return entries.some((e) => e.status === "in_progress");
  }

  // Ingestion statuses change on their own: ask again while some file is still in progress.
  async function watch() {
    while (!signal.aborted && (await refresh())) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  const addChoices = h("div.choices");
  const addForm = h(
    "form.card",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          for (const id of chosen([...addChoices.children])) await post(`/vector_stores/${storeId}/files`, { file_id: id });
          await watch();
        } catch (error) {
          replace(problem, errorBox(error));
        }
      },
    },
    h("h3", {}, "Add files"),
    addChoices,
    h("button", { type: "submit" }, "Add"),
  );

  const query = h("input", { name: "query", type: "search", placeholder: "What to look for", required: true });
  const results = h("div.search-results");
  const search = h(
    "form.card.search",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        replace(results, h("p.muted", {}, "Searching…"));
        try {
          const found = await post(`/vector_stores/${storeId}/search`, { query: query.value });
          replace(
            results,
            found.data.length
              ? h(
                  "ol.results",
                  {},
                  found.data.map((r) =>
                    h(
                      "li.result",
                      {},
                      h("div.result-head", {}, link(`/files/${r.file_id}`, r.filename || names.get(r.file_id) || r.file_id, { class: "file-name" }), h("span.score", {}, `score ${Number(r.score).toFixed(4)}`)),
                      (r.content || []).map((c) => h("blockquote.chunk", {}, c.text)),
                    ),
                  ),
                )
              : h("p.muted", {}, "No results."),
          );
        } catch (error) {
          replace(results, errorBox(error));
        }
      },
    },
    h("h3", {}, "Search"),
    h("div.row", {}, query, h("button.primary", { type: "submit" }, "Search")),
    results,
  );

  replace(
    main,
    page(store.name || storeId),
    h("p.crumbs", {}, link("/vector_stores", "Vector stores"), " / ", storeId),
    summary,
    problem,
    h("h2", {}, "Files"),
    filesHolder,
    addForm,
    search,
    h("div.actions", {}, confirmButton("Delete", async () => {
      await del(`/vector_stores/${storeId}`);
      navigate("/vector_stores");
    })),
  );
  await watch();
}
