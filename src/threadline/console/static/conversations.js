// Conversations: the project's conversations, newest first, and one conversation's items in
// order. A conversation is a thread (`thread_X` is `conv_X`): the API lists no
// conversations, so the list is the thread-list extension's, ids shown as conversations'.
// The threads that responses make for themselves are hidden, and not listed.
import { get, listAll } from "./api.js";
import { navigate } from "./app.js";
import { conversationId, INCLUDE, ItemsView, threadId } from "./items.js";
import { field, h, jsonBlock, link, page, pagedRows, replace, time } from "./ui.js";

export async function list(main) {
  const { rows, more, holder, nextPage } = pagedRows(
    (after) => get("/threads", { limit: 50, after }),
    (thread) => {
      const id = conversationId(thread.id);
      return (
        h(
          "tr",
          { "data-conversation-id": id },
          h("td", {}, link(`/conversations/${id}`, id)),
          h("td", {}, time(thread.created_at)),
          h("td", {}, Object.entries(thread.metadata || {}).map(([k, v]) => h("span.tag", {}, `${k}=${v}`))),
          h("td", {}, link(`/threads/${thread.id}`, "as a thread", { class: "muted" })),
        )
      );
    },
    "No conversations yet.",
  );

  const id = h("input", { name: "conversation", placeholder: "conv_…", required: true, autocomplete: "off" });
  const open = h(
    "form.card.search",
    {
      onsubmit: (event) => {
        event.preventDefault();
        const given = id.value.trim();
        if (given) navigate(`/conversations/${encodeURIComponent(given.startsWith("thread_") ? conversationId(given) : given)}`);
      },
    },
    h("div.row", {}, field("Conversation ID", id), h("button.primary", { type: "submit" }, "Open")),
  );
  replace(
    main,
    page("Conversations"),
    open,
    h(
      "div.table-wrap",
      {},
      h(
        "table.conversations",
        {},
        h("thead", {}, h("tr", {}, h("th", {}, "ID"), h("th", {}, "Created"), h("th", {}, "Metadata"), h("th", {}, ""))),
        rows,
      ),
    ),
    holder,
    more,
  );
  await nextPage();
}

export async function view(main, [id]) {
  const [conversation, items] = await Promise.all([
    get(`/conversations/${encodeURIComponent(id)}`),
    listAll(`/conversations/${encodeURIComponent(id)}/items`, { order: "asc", include: INCLUDE }),
  ]);
  const shown = new ItemsView("div.items.conversation-items", "No items.");
  shown.show(items);
  replace(
    main,
    page(`Conversation ${conversation.id}`),
    h("p.crumbs", {}, link("/conversations", "Conversations"), " / ", conversation.id),
    h(
      "p.muted",
      {},
      `Created ${time(conversation.created_at)} · ${items.length} item${items.length === 1 ? "" : "s"} · `,
      link(`/threads/${threadId(conversation.id)}`, "as a thread"),
      " · ",
      link(`/playground?mode=responses&conversation=${conversation.id}`, "Continue in the playground"),
    ),
    Object.keys(conversation.metadata || {}).length ? h("details", {}, h("summary", {}, "Metadata"), jsonBlock(conversation.metadata)) : null,
    h("h2", {}, "Items"),
    shown.element,
  );
  if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
}
