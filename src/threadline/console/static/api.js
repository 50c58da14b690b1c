// The API client: every request goes to the public API under /v1 with the key kept in this
// tab's session storage (never in local storage or a cookie), and nothing else.

const KEY = "threadline.api_key";

export function apiKey() {
  return sessionStorage.getItem(KEY);
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, body) {
    const message = body && body.error && body.error.message;
    super(message || (typeof body === "string" && body) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

// Called with the error of any request the API refused for its key (401).
let unauthorized = () => {};
export function onUnauthorized(handler) {
  unauthorized = handler;
}

function headers(extra = {}) {
  const result = { "OpenAI-Beta": "assistants=v2", ...extra };
  const key = apiKey();
  if (key) result.Authorization = `Bearer ${key}`;
  return result;
}

// `{a: 1, "include[]": ["x", "y"], b: undefined}` -> "?a=1&include[]=x&include[]=y"
export function queryString(query = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    for (const one of Array.isArray(value) ? value : [value]) params.append(name, one);
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

async function send(method, path, { body, form, query, signal } = {}) {
  const init = { method, signal, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  if (form) init.body = form;
  const response = await fetch(`/v1${path}${queryString(query)}`, init);
  if (!response.ok) throw await failure(response);
  return response;
}

async function failure(response) {
  const text = await response.text();
  let body = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  const error = new ApiError(response.status, body);
  if (response.status === 401) unauthorized(error);
  return error;
}

export async function call(method, path, options) {
  const response = await send(method, path, options);
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

export const get = (path, query, signal) => call("GET", path, { query, signal });
export const post = (path, body, query) => call("POST", path, { body, query });
export const del = (path) => call("DELETE", path);

export function upload(file, purpose) {
  const form = new FormData();
  form.append("purpose", purpose);
  form.append("file", file, file.name);
  return call("POST", "/files", { form });
}

// Every item of a list, page after page (up to `most`).
export async function listAll(path, query = {}, most = 2000) {
  const items = [];
  let after;
  for (;;) {
    const page = await get(path, { limit: 100, ...query, after });
    items.push(...page.data);
    if (!page.has_more || !page.data.length || items.length >= most) return items;
    after = page.data[page.data.length - 1].id;
  }
}

// Bytes the API serves, as an object URL (an <img> or a link cannot send the key itself).
const objectUrls = new Map();
async function blobUrl(path) {
  if (!objectUrls.has(path)) {
    const response = await send("GET", path);
    objectUrls.set(path, URL.createObjectURL(await response.blob()));
  }
  return objectUrls.get(path);
}

export function fileUrl(fileId) {
  return blobUrl(`/files/${encodeURIComponent(fileId)}/content`);
}

export function containerFileUrl(containerId, fileId) {
  return blobUrl(`/containers/${encodeURIComponent(containerId)}/files/${encodeURIComponent(fileId)}/content`);
}

// Server-sent events over fetch (EventSource cannot send an Authorization header):
// yields {event, data, id} with `data` parsed as JSON when it is JSON.
export async function* events(method, path, { body, query, signal } = {}) {
  const response = await send(method, path, { body, query, signal });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
        const parsed = parseEvent(block);
        if (parsed) yield parsed;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

function parseEvent(block) {
  let event = "message";
  let id = null;
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(":")) continue; // keep-alive comments
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    else if (field === "id") id = value;
  }
  if (!data.length) return null;
  const text = data.join("\n");
  let parsed = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // "[DONE]" and other plain data
  }
  return { event, data: parsed, id };
}
