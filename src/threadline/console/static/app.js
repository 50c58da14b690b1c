// The app: sign-in, navigation and one page per address. Every page can be reloaded and
// shared: what it shows comes from its address.
import { ApiError, apiKey, get, onUnauthorized, setApiKey } from "./api.js";
import * as assistants from "./assistants.js";
import * as conversations from "./conversations.js";
import * as files from "./files.js";
import { playground } from "./playground.js";
import * as responses from "./responses.js";
import { runInspector } from "./run.js";
import * as stores from "./stores.js";
import * as threads from "./threads.js";
import { errorBox, h, replace } from "./ui.js";

const main = document.getElementById("main");
const signOut = document.getElementById("sign-out");

const ROUTES = [
  [/^\/$/, "assistants", assistants.list],
  [/^\/assistants$/, "assistants", assistants.list],
  [/^\/assistants\/new$/, "assistants", assistants.edit],
  [/^\/assistants\/([^/]+)$/, "assistants", assistants.edit],
  [/^\/playground$/, "playground", playground],
  [/^\/threads$/, "threads", threads.list],
  [/^\/threads\/([^/]+)$/, "threads", threads.view],
  [/^\/threads\/([^/]+)\/runs\/([^/]+)$/, "threads", runInspector],
  [/^\/conversations$/, "conversations", conversations.list],
  [/^\/conversations\/([^/]+)$/, "conversations", conversations.view],
  [/^\/responses$/, "responses", responses.list],
  [/^\/responses\/([^/]+)$/, "responses", responses.view],
  [/^\/files$/, "files", files.list],
  [/^\/files\/([^/]+)$/, "files", files.view],
  [/^\/vector_stores$/, "vector_stores", stores.list],
  [/^\/vector_stores\/([^/]+)$/, "vector_stores", stores.view],
];

// The page on screen; navigating away aborts its requests and streams.
let current = null;

export function navigate(href, { replace: replacing = false } = {}) {
  if (replacing) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  return render();
}

// Changes the address (for sharing and reloading) without rendering the page again.
export function setAddress(href) {
  history.replaceState(null, "", href);
}

async function render() {
  if (current) current.abort();
  const controller = new AbortController();
  current = controller;
  const path = location.pathname.replace(/\/+$/, "") || "/";
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  for (const anchor of document.querySelectorAll("#nav a")) {
    anchor.classList.toggle("active", route !== undefined && anchor.dataset.section === route[1]);
  }
  signOut.hidden = !apiKey();
  if (!route) {
    replace(main, h("h1", {}, "Not found"), h("p", {}, "No page at this address."));
    return;
  }
  const params = path.match(route[0]).slice(1).map(decodeURIComponent);
  const context = { signal: controller.signal, query: new URLSearchParams(location.search) };
  replace(main, h("p.muted", {}, "Loading…"));
  try {
    await route[2](main, params, context);
  } catch (error) {
    if (controller.signal.aborted || (error instanceof ApiError && error.status === 401)) return;
    console.error(error);
    main.append(errorBox(error));
  }
}

function showSignIn(error) {
  if (current) current.abort();
  current = null;
  signOut.hidden = true;
  document.title = "Sign in · Threadline";
  const input = h("input", {
    type: "password",
    name: "api_key",
    id: "api-key",
    autocomplete: "off",
    placeholder: "sk-…",
    required: true,
  });
  const problem = h("div.problem");
  if (error && apiKey()) problem.append(errorBox(error));
  const form = h(
    "form.card.sign-in",
    {
      onsubmit: async (event) => {
        event.preventDefault();
        setApiKey(input.value.trim());
        try {
          await get("/assistants", { limit: 1 });
        } catch (failure) {
          replace(problem, errorBox(failure));
          setApiKey(null);
          return;
        }
        render();
      },
    },
    h("h1", {}, "Sign in"),
    h("p", {}, "This server needs an API key. The console keeps it in this tab's session storage only: closing the tab forgets it."),
    h("label.field", {}, h("span.label", {}, "API key"), input),
    problem,
    h("button.primary", { type: "submit" }, "Sign in"),
  );
  replace(main, form);
  input.focus();
}

onUnauthorized((error) => showSignIn(error));

signOut.addEventListener("click", () => {
  setApiKey(null);
  showSignIn();
});

document.addEventListener("click", (event) => {
  const anchor = event.target.closest("a");
  if (!anchor || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const href = anchor.getAttribute("href");
  if (!href || !href.startsWith("/") || href.startsWith("//") || anchor.target || anchor.hasAttribute("download")) return;
  event.preventDefault();
  navigate(href);
});

window.addEventListener("popstate", () => render());

// Local mode answers without a key: the sign-in form shows only when the API asks for one.
async function start() {
  try {
    await get("/assistants", { limit: 1 });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return; // the form is showing
    replace(main, errorBox(error));
    return;
  }
  render();
}

start();
