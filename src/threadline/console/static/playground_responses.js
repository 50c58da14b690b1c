// The playground's Responses mode: chat with a model in a conversation through
// `POST /v1/responses` (streamed), with file_search over a vector store and code_interpreter
// in a container. The answer streams in as the model writes it; beside the chat, the
// response's tool calls appear and change as it makes them. The address names the
// conversation (and the model), so a reload brings it back.
import { events, get, listAll, post } from "./api.js";
import { setAddress } from "./app.js";
import { applyResponseEvent, followResponse, RESPONSE_LIVE } from "./live.js";
import { INCLUDE, item, ItemsView } from "./items.js";
import { errorBox, field, h, link, page, replace, status } from "./ui.js";

// The switch between the playground's two APIs, each an address of its own.
export function modeSwitch(mode) {
  const choice = (name, href, label) =>
    link(href, label, { class: mode === name ? "active" : "", "aria-current": mode === name ? "page" : null, "data-mode": name });
  return h(
    "div.switch",
    { role: "group", "aria-label": "API" },
    choice("assistants", "/playground", "Assistants"),
    choice("responses", "/playground?mode=responses", "Responses"),
  );
}

export async function responsesPlayground(main, { signal, query }) {
  const [models, stores] = await Promise.all([
    get("/models").then((m) => m.data).catch(() => []),
    listAll("/vector_stores").catch(() => []),
  ]);
  let conversation = query.get("conversation") || null;

  const model = h("input", { name: "model", id: "model", value: query.get("model") || (models[0] && models[0].id) || "", list: "response-models", required: true, autocomplete: "off" });
  const modelList = h("datalist", { id: "response-models" }, models.map((m) => h("option", { value: m.id })));
  const instructions = h("textarea", { name: "instructions", rows: 3, placeholder: "Optional" });
  const search = h("input", { type: "checkbox", name: "file_search", checked: false });
  const store = h(
    "select",
    { name: "vector_store" },
    h("option", { value: "" }, stores.length ? "Pick a vector store…" : "No vector stores yet"),
    stores.map((s) => h("option", { value: s.id }, `${s.name || "(no name)"} · ${s.id}`)),
  );
  const interpreter = h("input", { type: "checkbox", name: "code_interpreter" });
  const conversationInfo = h("p.conversation-info.muted");
  const messages = h("div.messages", { "aria-live": "polite" });
  const text = h("textarea", { name: "message", rows: 3, placeholder: "Write a message…", required: true });
  const send = h("button.primary", { type: "submit" }, "Send");
  const problem = h("div.problem");
  const responseHead = h("div.run-head.response-head.muted", {}, "No response yet.");
  const calls = new ItemsView("div.items.live-items", "No tool calls.");
  calls.show([]);

  store.addEventListener("change", () => {
    if (store.value) search.checked = true;
  });
  model.addEventListener("change", () => showConversation());

  function showConversation() {
    replace(
      conversationInfo,
      conversation ? ["Conversation ", link(`/conversations/${conversation}`, conversation)] : "A new conversation starts with the first message.",
    );
    const params = new URLSearchParams({ mode: "responses" });
    if (model.value.trim()) params.set("model", model.value.trim());
    if (conversation) params.set("conversation", conversation);
    setAddress(`/playground?${params}`);
  }

  function showResponse(response) {
    replace(
      responseHead,
      link(`/responses/${response.id}`, response.id, { class: "response-link", title: "Open the response" }),
      " ",
      status(response.status),
    );
  }

  function tools() {
    const chosen = [];
    if (search.checked) chosen.push({ type: "file_search", vector_store_ids: [store.value] });
    if (interpreter.checked) chosen.push({ type: "code_interpreter", container: { type: "auto" } });
    return chosen;
  }

  async function submit(event) {
    event.preventDefault();
    replace(problem);
    const content = text.value.trim();
    if (!content) return;
    if (!model.value.trim()) {
      problem.append(errorBox("Pick a model."));
      return;
    }
    if (search.checked && !store.value) {
      problem.append(errorBox("Pick a vector store for file_search."));
      return;
    }
    send.disabled = true;
    try {
      if (!conversation) {
        conversation = (await post("/conversations", {})).id;
        showConversation();
      }
      const body = {
        model: model.value.trim(),
        stream: true,
        conversation,
        input: content,
        instructions: instructions.value.trim() || undefined,
        tools: tools(),
        include: INCLUDE,
      };
      messages.append(item({ type: "message", role: "user", content: [{ type: "input_text", text: content }] }));
      text.value = "";
      calls.show([]);
      replace(responseHead, "Starting a response…");
      await stream(body);
    } catch (error) {
      if (!signal.aborted) problem.append(errorBox(error));
    } finally {
      send.disabled = false;
    }
  }

  // The response's events: messages go to the chat, tool calls beside it.
  async function stream(body) {
    const items = [];
    const announced = new Set();
    const shown = new Map(); // output index -> its element in the chat
    await followResponse(events("POST", "/responses", { body, signal }), {
      response(response) {
        showResponse(response);
        if (response.error) problem.append(errorBox(`${response.error.code}: ${response.error.message}`));
        if (response.incomplete_details) problem.append(errorBox(`Incomplete: ${response.incomplete_details.reason}`));
      },
      item(event, data) {
        const index = applyResponseEvent(items, event, data, announced);
        if (index === null) return;
        const it = items[index];
        if (it.type !== "message") {
          calls.put(index, it);
          return;
        }
        const next = item(it);
        const old = shown.get(index);
        if (old) old.replaceWith(next);
        else messages.append(next);
        shown.set(index, next);
        next.scrollIntoView({ block: "end" });
      },
      error(data) {
        problem.append(errorBox((data && data.message) || "The stream failed."));
      },
    });
  }

  const newConversation = h(
    "button.quiet",
    {
      type: "button",
      onclick: () => {
        conversation = null;
        messages.replaceChildren();
        calls.show([]);
        replace(responseHead, "No response yet.");
        showConversation();
      },
    },
    "New conversation",
  );

  replace(
    main,
    page("Playground"),
    modeSwitch("responses"),
    h(
      "div.playground",
      {},
      h(
        "section.setup.card",
        {},
        field("Model", h("span", {}, model, modelList), "One of the models the server lists, or any name its backend knows."),
        field("Instructions", instructions),
        h(
          "fieldset.tools",
          {},
          h("legend", {}, "Tools"),
          h("label.check", {}, search, " file_search"),
          field("Vector store", store),
          h("label.check", {}, interpreter, " code_interpreter (a container of its own)"),
        ),
        conversationInfo,
        newConversation,
      ),
      h("section.chat.card", {}, messages, h("form.composer", { onsubmit: submit }, text, h("div.composer-bar", {}, h("span"), send), problem)),
      h("aside.steps-panel.card", {}, h("h2", {}, "Tool calls"), responseHead, calls.element),
    ),
  );
  showConversation();
  if (conversation) await resume();

  // A reloaded playground shows its conversation; beside it, the tool calls made since the
  // last message the person wrote, and the latest response made in it.
  async function resume() {
    const all = await listAll(`/conversations/${encodeURIComponent(conversation)}/items`, { order: "asc", include: INCLUDE });
    let lastUser = -1;
    all.forEach((it, index) => {
      if (it.type === "message" && it.role === "user") lastUser = index;
    });
    all.forEach((it, index) => {
      if (it.type === "message") messages.append(item(it));
      else if (index > lastUser) calls.put(index, it);
    });
    const recent = await get("/responses", { limit: 20 }, signal);
    const latest = recent.data.find((r) => r.conversation && r.conversation.id === conversation);
    if (!latest) return;
    showResponse(latest);
    if (RESPONSE_LIVE.includes(latest.status)) {
      responseHead.append(" ", link(`/responses/${latest.id}`, "follow it live", { class: "follow-link" }));
    }
  }
}
