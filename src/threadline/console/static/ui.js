// Building the page: elements, links, dates, JSON, code and errors. Text always goes in as
// text (never as HTML), so nothing the API returns can run in the page.

export function h(tag, attrs = {}, ...children) {
  const [name, ...classes] = tag.split(".");
  const element = document.createElement(name);
  if (classes.length) element.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (key === "class") element.classList.add(...String(value).split(" ").filter(Boolean));
    else if (key === "text") element.textContent = value;
    else if (key === "value") element.value = value;
    else if (key === "checked") element.checked = Boolean(value);
    else element.setAttribute(key, value === true ? "" : value);
  }
  append(element, children);
  return element;
}

export function append(parent, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function replace(parent, ...children) {
  parent.replaceChildren();
  return append(parent, children);
}

export function link(href, text, attrs = {}) {
  return h("a", { href, ...attrs }, text);
}

export function pad(n) {
  return String(n).padStart(2, "0");
}

// A Unix time in the browser's time zone, to the second.
export function time(unix) {
  if (!unix) return "—";
  const d = new Date(unix * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${seconds % 60} s`;
}

export function bytes(n) {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KB", "MB", "GB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

export function pretty(value) {
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value, null, 2);
}

export function jsonBlock(value, attrs = {}) {
  return h("pre.json", attrs, pretty(value));
}

export function status(value) {
  return h("span.status", { class: `status-${value}`, "data-status": value }, value.replaceAll("_", " "));
}

export function usage(u) {
  if (!u) return "—";
  return `${u.prompt_tokens} in · ${u.completion_tokens} out · ${u.total_tokens} total`;
}

export function errorBox(error) {
  return h("p.error", { role: "alert" }, error instanceof Error ? error.message : String(error));
}

export function notice(text) {
  return h("p.notice", { role: "status" }, text);
}

// A button that asks again before it acts (no dialog: a second click confirms).
export function confirmButton(label, action) {
  const button = h("button.danger", { type: "button" }, label);
  let armed = false;
  button.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      button.textContent = `Really ${label.toLowerCase()}?`;
      return;
    }
    button.disabled = true;
    await action();
  });
  return button;
}

export function table(headings, rows, empty = "Nothing yet.") {
  if (!rows.length) return h("p.muted", {}, empty);
  return h(
    "div.table-wrap",
    {},
    h("table", {}, h("thead", {}, h("tr", {}, headings.map((x) => h("th", {}, x)))), h("tbody", {}, rows)),
  );
}

export function field(label, control, hint) {
  return h("label.field", {}, h("span.label", {}, label), control, hint ? h("small.muted", {}, hint) : null);
}

export function page(title, ...children) {
  document.title = `${title} · Threadline`;
  return [h("h1", {}, title), ...children];
}

// A minimal Python highlighter: comments, strings, numbers, keywords and builtins.
const PYTHON = new RegExp(
  [
    /(#[^\n]*)/.source,
    /("""[\s\S]*?"""|'''[\s\S]*?'''|[rbfu]{0,2}"(?:\\.|[^"\\\n])*"|[rbfu]{0,2}'(?:\\.|[^'\\\n])*')/.source,
    /\b(\d+(?:\.\d+)?)\b/.source,
    /\b(False|None|True|and|as|assert|async|await|break|class|continue|def|del|elif|else|except|finally|for|from|global|if|import|in|is|lambda|nonlocal|not|or|pass|raise|return|try|while|with|yield)\b/.source,
    /\b([A-Za-z_][A-Za-z0-9_]*)(?=\()/.source,
  ].join("|"),
  "g",
);
const KINDS = ["comment", "string", "number", "keyword", "call"];

export function code(source) {
  const block = h("code.python");
  let at = 0;
  for (const match of source.matchAll(PYTHON)) {
    if (match.index > at) block.append(source.slice(at, match.index));
    const kind = KINDS[match.slice(1).findIndex((group) => group !== undefined)];
    block.append(h(`span.tok-${kind}`, {}, match[0]));
    at = match.index + match[0].length;
  }
  block.append(source.slice(at));
  return h("pre.code", {}, block);
}

// A table body filled a page at a time, with its "More" button and the place its problems
// show: the lists of threads, conversations and responses. `fetchPage(after)` reads a page.
export function pagedRows(fetchPage, rowOf, emptyText) {
  const rows = h("tbody");
  const more = h("button.quiet", { type: "button", hidden: true }, "More");
  const holder = h("div.problem");
  let after;
  async function nextPage() {
    const found = await fetchPage(after);
    for (const item of found.data) rows.append(rowOf(item));
    after = found.data.length ? found.data[found.data.length - 1].id : after;
    more.hidden = !found.has_more;
    if (!rows.children.length) replace(holder, h("p.muted", {}, emptyText));
  }
  more.addEventListener("click", () => nextPage().catch((error) => holder.append(errorBox(error))));
  return { rows, more, holder, nextPage };
}
