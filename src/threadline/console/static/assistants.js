// Assistants: the list, and one form to create or edit one.
import { del, get, listAll, post } from "./api.js";
import { navigate } from "./app.js";
import { confirmButton, errorBox, field, h, link, notice, page, replace, table, time } from "./ui.js";

export async function list(main) {
  const assistants = await listAll("/assistants");
  const rows = assistants.map((a) =>
    h(
      "tr",
      {},
      h("td", {}, link(`/assistants/${a.id}`, a.name || "(no name)")),
      h("td", {}, h("code", {}, a.id)),
      h("td", {}, a.model),
      h("td", {}, a.tools.map((t) => (t.type === "function" ? t.function.name : t.type)).join(", ") || "—"),
      h("td", {}, time(a.created_at)),
      h("td", {}, link(`/playground?assistant=${a.id}`, "Chat")),
    ),
  );
  replace(
    main,
    page("Assistants"),
    h("p", {}, link("/assistants/new", "New assistant", { class: "button primary" })),
    table(["Name", "ID", "Model", "Tools", "Created", ""], rows, "No assistants yet: create one."),
  );
}

// Reads a JSON object from a text box, or says what is wrong with it.
function jsonObject(text, what) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Error(`${what} is not valid JSON: ${error.message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new Error(`${what} must be a JSON object.`);
  }
  return value;
}

function functionEditor(tool, onRemove) {
  const fn = tool ? tool.function : {};
  const name = h("input", { name: "function_name", value: fn.name || "", required: true, pattern: "[a-zA-Z0-9_-]{1,64}" });
  const description = h("input", { name: "function_description", value: fn.description || "" });
  const parameters = h("textarea.mono", {
    name: "function_parameters",
    rows: 8,
    spellcheck: "false",
    value: JSON.stringify(fn.parameters || { type: "object", properties: {} }, null, 2),
  });
  const strict = h("input", { type: "checkbox", name: "function_strict", checked: fn.strict });
  const problem = h("div.problem");
  const box = h(
    "fieldset.function",
    {},
    h("legend", {}, "Function"),
    field("Name", name),
    field("Description", description),
    field("Parameters (JSON schema)", parameters),
    h("label.check", {}, strict, " strict"),
    problem,
    h("button.quiet", { type: "button", onclick: () => onRemove(box) }, "Remove function"),
  );
  parameters.addEventListener("input", () => {
    try {
      check(parameters.value);
      replace(problem);
    } catch (error) {
      replace(problem, errorBox(error));
    }
  });
  function check(text) {
    const schema = jsonObject(text, `The parameters of ${name.value || "the function"}`);
    if (schema.type !== undefined && schema.type !== "object") {
      throw new Error(`The parameters of ${name.value || "the function"} must be a schema of "type": "object".`);
    }
    return schema;
  }
  box.read = () => {
    const value = { name: name.value.trim(), parameters: check(parameters.value) };
    if (!value.name) throw new Error("A function needs a name.");
    if (description.value.trim()) value.description = description.value.trim();
    if (strict.checked) value.strict = true;
    return { type: "function", function: value };
  };
  return box;
}

export async function edit(main, [id]) {
  const creating = id === undefined;
  const [assistant, models, files, stores] = await Promise.all([
    creating ? null : get(`/assistants/${id}`),
    get("/models").then((m) => m.data).catch(() => []),
    listAll("/files").catch(() => []),
    listAll("/vector_stores").catch(() => []),
  ]);
  const a = assistant || { tools: [], tool_resources: {}, metadata: {} };
  const tools = new Set(a.tools.map((t) => t.type));
  const resources = a.tool_resources || {};
  const codeFiles = new Set((resources.code_interpreter && resources.code_interpreter.file_ids) || []);
  const searchStores = new Set((resources.file_search && resources.file_search.vector_store_ids) || []);

  const name = h("input", { name: "name", value: a.name || "" });
  const description = h("input", { name: "description", value: a.description || "" });
  const model = h("input", { name: "model", value: a.model || "", list: "models", required: true, autocomplete: "off" });
  const modelList = h("datalist", { id: "models" }, models.map((m) => h("option", { value: m.id })));
  const instructions = h("textarea", { name: "instructions", rows: 6, value: a.instructions || "" });
  const temperature = h("input", { name: "temperature", type: "number", min: 0, max: 2, step: 0.01, value: a.temperature ?? "" });
  const topP = h("input", { name: "top_p", type: "number", min: 0, max: 1, step: 0.01, value: a.top_p ?? "" });
  const format = a.response_format && typeof a.response_format === "object" ? a.response_format : { type: a.response_format || "auto" };
  const formatType = h(
    "select",
    { name: "response_format" },
    ["auto", "text", "json_object", "json_schema"].map((t) => h("option", { value: t, selected: t === format.type }, t)),
  );
  const formatSchema = h("textarea.mono", {
    name: "json_schema",
    rows: 6,
    spellcheck: "false",
    value: format.json_schema ? JSON.stringify(format.json_schema, null, 2) : '{\n  "name": "answer",\n  "schema": {"type": "object", "properties": {}}\n}',
  });
  const schemaField = field("JSON schema (name, schema, strict)", formatSchema);
  const showSchema = () => {
    schemaField.hidden = formatType.value !== "json_schema";
  };
  formatType.addEventListener("change", showSchema);
  showSchema();

  const codeInterpreter = h("input", { type: "checkbox", name: "code_interpreter", checked: tools.has("code_interpreter") });
  const fileSearch = h("input", { type: "checkbox", name: "file_search", checked: tools.has("file_search") });
  const codeFileChecks = files
    .filter((f) => f.purpose === "assistants")
    .map((f) => h("label.check", {}, h("input", { type: "checkbox", value: f.id, checked: codeFiles.has(f.id) }), ` ${f.filename} `, h("code.muted", {}, f.id)));
  const storeChecks = stores.map((s) =>
    h("label.check", {}, h("input", { type: "checkbox", value: s.id, checked: searchStores.has(s.id) }), ` ${s.name || "(no name)"} `, h("code.muted", {}, s.id)),
  );
  const functions = h("div.functions");
  const addFunction = (tool) => functions.append(functionEditor(tool, (box) => box.remove()));
  a.tools.filter((t) => t.type === "function").forEach(addFunction);

  const problem = h("div.problem");
  const form = h(
    "form.card.assistant-form",
    { onsubmit: (event) => save(event) },
    field("Name", name),
    field("Description", description),
    field("Model", h("span", {}, model, modelList), "One of the models the server lists, or any name its backend knows."),
    field("Instructions", instructions),
    h("div.row", {}, field("Temperature", temperature), field("top_p", topP)),
    field("Response format", formatType),
    schemaField,
    h(
      "fieldset",
      {},
      h("legend", {}, "Tools"),
      h("label.check", {}, codeInterpreter, " code_interpreter"),
      codeFileChecks.length ? h("div.choices", {}, h("span.muted", {}, "Files for code_interpreter"), codeFileChecks) : null,
      h("label.check", {}, fileSearch, " file_search"),
      storeChecks.length ? h("div.choices", {}, h("span.muted", {}, "Vector store for file_search"), storeChecks) : null,
      functions,
      h("button.quiet", { type: "button", onclick: () => addFunction(null) }, "Add function"),
    ),
    problem,
    h(
      "div.actions",
      {},
      h("button.primary", { type: "submit" }, creating ? "Create assistant" : "Save"),
      creating ? null : link(`/playground?assistant=${a.id}`, "Open in playground", { class: "button" }),
      creating
        ? null
        : confirmButton("Delete", async () => {
            await del(`/assistants/${a.id}`);
            navigate("/assistants");
          }),
    ),
  );

  async function save(event) {
    event.preventDefault();
    replace(problem);
    let body;
    try {
      body = read();
    } catch (error) {
      replace(problem, errorBox(error));
      return;
    }
    try {
      const saved = await post(creating ? "/assistants" : `/assistants/${a.id}`, body);
      await navigate(`/assistants/${saved.id}`, { replace: creating });
      document.getElementById("main").prepend(notice(creating ? "Assistant created." : "Saved."));
    } catch (error) {
      replace(problem, errorBox(error));
    }
  }

  function read() {
    const body = {
      model: model.value.trim(),
      name: name.value.trim() || null,
      description: description.value.trim() || null,
      instructions: instructions.value || null,
      temperature: temperature.value === "" ? null : Number(temperature.value),
      top_p: topP.value === "" ? null : Number(topP.value),
      tools: [],
    };
    if (formatType.value === "json_schema") {
      body.response_format = { type: "json_schema", json_schema: jsonObject(formatSchema.value, "The response format's schema") };
    } else {
      body.response_format = formatType.value === "auto" ? "auto" : { type: formatType.value };
    }
    if (codeInterpreter.checked) body.tools.push({ type: "code_interpreter" });
    if (fileSearch.checked) body.tools.push({ type: "file_search" });
    for (const box of functions.children) body.tools.push(box.read());
    const checked = (boxes) => boxes.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    const chosenStores = checked(storeChecks);
    if (chosenStores.length > 1) throw new Error("file_search takes one vector store.");
    body.tool_resources = {
      code_interpreter: { file_ids: checked(codeFileChecks) },
      file_search: { vector_store_ids: chosenStores },
    };
    return body;
  }

  replace(
    main,
    page(creating ? "New assistant" : a.name || "Assistant"),
    creating ? null : h("p.muted", {}, h("code", {}, a.id), ` · created ${time(a.created_at)}`),
    form,
  );
}
