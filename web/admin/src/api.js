// Talking to restd from the admin UI. The token lives in sessionStorage
// (gone when the tab closes) and goes only in the Authorization header,
// never in a URL.
const TOKEN_KEY = "restd-admin-token";

export const base = document.querySelector('meta[name="restd-base"]').content;

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// One request; resolves to {status, headers, body} (body parsed when JSON).
export async function call(method, path, { body, contentType = "application/json", headers = {} } = {}) {
  const h = { Accept: "application/json", ...headers };
  const t = token();
  if (t) h.Authorization = "Bearer " + t;
  let payload;
  if (body !== undefined) {
    h["Content-Type"] = contentType;
    payload = typeof body === "string" ? body : JSON.stringify(body);
  }
  const r = await fetch(base + path, { method, headers: h, body: payload });
  const text = await r.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { raw: text };
  }
  return { status: r.status, headers: r.headers, body: parsed };
}

// Follows a collection's change feed with the token in a header (an
// EventSource could only carry it in the URL). Calls onEvent({event, id,
// data}) per event; reconnects with Last-Event-ID until `signal` aborts.
export async function follow(path, onEvent, signal) {
  let lastId = null;
  while (!signal.aborted) {
    try {
      const headers = { Accept: "text/event-stream", Authorization: "Bearer " + token() };
      if (lastId) headers["Last-Event-ID"] = lastId;
      const r = await fetch(base + path, { headers, signal });
      if (r.status !== 200) return;
      const reader = r.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const ev = { event: "message", id: null, data: "" };
          for (const line of block.split("\n")) {
            if (line.startsWith("event:")) ev.event = line.slice(6).trim();
            else if (line.startsWith("id:")) ev.id = line.slice(3).trim();
            else if (line.startsWith("data:")) ev.data += line.slice(5).trim();
          }
          if (ev.id) lastId = ev.id;
          if (ev.data) onEvent(ev);
        }
      }
    } catch (e) {
      if (signal.aborted) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}
