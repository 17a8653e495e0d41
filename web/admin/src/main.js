// The restd admin UI: sign in, then browse, filter, create, edit and delete
// the records of every collection, with live updates from the change feed.
// Forms come from the server's own OpenAPI document, so they follow the
// field rules of its configuration.
import "./style.css";
import { base, call, follow, setToken, token } from "./api.js";

const app = document.getElementById("app");
const state = { doc: null, index: null, me: null, feed: null, lastEvent: null };

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else if (v !== false && v !== null && v !== undefined) el.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  return el;
}

function schemaOf(ref) {
  return state.doc.components.schemas[ref.split("/").pop()];
}

// The create schema and the record schema of a collection, from /openapi.json.
function schemasFor(c) {
  const post = state.doc.paths["/" + c.name].post.requestBody.content["application/json"].schema;
  const create = schemaOf(post.oneOf[0].$ref);
  const reply = schemaOf(state.doc.paths["/" + c.name + "/{id}"].get.responses["200"].content["application/json"].schema.$ref);
  const record = schemaOf(reply.properties.data.$ref);
  return { create, record };
}

function errorText(body) {
  const e = body && body.error;
  return e ? e.message : "The server answered unexpectedly.";
}

// ------------------------------------------------------------------ sign in

function signIn(message) {
  stopFeed();
  const err = h("p", { class: "error", role: "alert" }, message || "");
  const form = h("form", { class: "card signin", onsubmit: async (e) => {
    e.preventDefault();
    const data = Object.fromEntries(new FormData(form));
    const r = await call("POST", "/authenticate", { body: data });
    if (r.status !== 200) {
      err.textContent = errorText(r.body);
      return;
    }
    setToken(r.body.data.access_token);
    start();
  } },
    h("h1", {}, "restd admin"),
    h("label", {}, "User name", h("input", { name: "userName", autocomplete: "username", required: true })),
    h("label", {}, "API key", h("input", { name: "apiKey", required: true })),
    h("label", {}, "Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    err,
    h("button", { type: "submit" }, "Sign in"));
  app.replaceChildren(form);
}

async function signOut() {
  await call("POST", "/logout");
  setToken(null);
  signIn("Signed out.");
}

// ------------------------------------------------------------------ layout

function layout(active, main) {
  const nav = h("nav", {},
    h("h2", {}, "Collections"),
    h("ul", {}, state.index.collections.map((c) =>
      h("li", {}, h("a", { href: "#/" + c.name, class: c.name === active ? "active" : "" }, c.name)))),
    state.me.user.role === "admin" ? [
      h("h2", {}, "Accounts"),
      h("ul", {}, [["_users", "Users"], ["_apikeys", "API keys"]].map(([path, label]) =>
        h("li", {}, h("a", { href: "#/" + path, class: path === active ? "active" : "" }, label))))] : null,
    h("p", { class: "links" }, h("a", { href: "/docs" }, "API reference"), " · ", h("a", { href: "/docs/errors" }, "Errors")));
  const top = h("header", {},
    h("strong", {}, "restd admin"),
    h("span", { class: "who" }, `${state.me.user.userName} (${state.me.user.role})`),
    h("button", { class: "link", onclick: signOut }, "Sign out"));
  app.replaceChildren(top, h("div", { class: "body" }, nav, h("main", {}, main)));
}

// ------------------------------------------------------------------ records

function cell(v) {
  if (v === null || v === undefined) return h("span", { class: "null" }, "—");
  if (typeof v === "object") return h("code", {}, JSON.stringify(v));
  return String(v);
}

async function showCollection(c, query) {
  const { record } = schemasFor(c);
  if (state.shown !== c.name) state.lastEvent = null;  // the live line is per collection
  state.shown = c.name;
  const fields = c.fields.map((f) => f.name);
  const params = new URLSearchParams(query);
  if (!params.has("per_page")) params.set("per_page", "20");
  const r = await call("GET", "/" + c.name + "?" + params.toString());
  if (r.status === 401) return signIn("Your session has ended; sign in again.");
  const main = h("section", {});
  main.append(h("div", { class: "title" }, h("h1", {}, c.name),
    h("button", { onclick: () => editRecord(c, null) }, "New " + c.singular)));
  // Filtering: a field, an operator, a value.
  const filterField = h("select", { name: "field", "aria-label": "Filter field" },
    ["id", ...fields].map((f) => h("option", { value: f }, f)));
  const filterOp = h("select", { name: "op", "aria-label": "Filter operator" },
    ["like", "eq", "ne", "gt", "gte", "lt", "lte", "in"].map((o) => h("option", { value: o }, o)));
  const filterValue = h("input", { name: "value", placeholder: "value (* is a wildcard with like)", "aria-label": "Filter value" });
  const active = [...params.entries()].filter(([k]) => !["page", "per_page", "sort"].includes(k));
  main.append(h("form", { class: "filters", onsubmit: (e) => {
    e.preventDefault();
    const p = new URLSearchParams(params);
    p.delete("page");
    p.set(filterOp.value === "eq" ? filterField.value : `${filterField.value}[${filterOp.value}]`, filterValue.value);
    location.hash = "#/" + c.name + "?" + p.toString();
  } }, filterField, filterOp, filterValue, h("button", { type: "submit" }, "Filter"),
    active.map(([k, v]) => h("button", { type: "button", class: "chip", title: "Remove this filter", onclick: () => {
      const p = new URLSearchParams(params);
      p.delete(k);
      p.delete("page");
      location.hash = "#/" + c.name + "?" + p.toString();
    } }, `${k} = ${v} ×`))));
  if (r.status !== 200) {
    main.append(h("p", { class: "error", role: "alert" }, errorText(r.body)));
    return layout(c.name, main);
  }
  // The table: click a heading to sort by it, again to reverse.
  const sort = params.get("sort") || "";
  const sortBy = (f) => {
    const p = new URLSearchParams(params);
    p.set("sort", sort === f ? "-" + f : f);
    p.delete("page");
    location.hash = "#/" + c.name + "?" + p.toString();
  };
  const columns = ["id", ...(record.properties.slug ? ["slug"] : []), ...fields, "updatedAt"];
  const table = h("table", {},
    h("thead", {}, h("tr", {}, columns.map((f) => h("th", {},
      h("button", { class: "link", onclick: () => sortBy(f) },
        f + (sort === f ? " ▲" : sort === "-" + f ? " ▼" : "")))), h("th", {}, ""))),
    h("tbody", {}, r.body.data.map((rec) => h("tr", { "data-id": rec.id },
      columns.map((f) => h("td", {}, cell(rec[f]))),
      h("td", { class: "actions" },
        h("button", { class: "link", onclick: () => editRecord(c, rec) }, "Edit"),
        h("button", { class: "link danger", onclick: () => deleteRecord(c, rec) }, "Delete"))))));
  if (r.body.data.length === 0) main.append(h("p", { class: "empty" }, "No records match."));
  else main.append(table);
  const pg = r.body.pagination;
  const page = pg.page || 1;
  const goto = (n) => {
    const p = new URLSearchParams(params);
    p.set("page", String(n));
    location.hash = "#/" + c.name + "?" + p.toString();
  };
  main.append(h("div", { class: "pager" },
    h("button", { disabled: page <= 1, onclick: () => goto(page - 1) }, "‹ Previous"),
    h("span", {}, `Page ${page} of ${Math.max(1, pg.pagesCount || 1)} · ${pg.recordsCount ?? "?"} records`),
    h("button", { disabled: page >= (pg.pagesCount || 1), onclick: () => goto(page + 1) }, "Next ›")));
  main.append(h("p", { class: "live", id: "live" }, state.lastEvent ? `Live: ${state.lastEvent}` : "Live: following changes"));
  layout(c.name, main);
  startFeed(c, query);
}

// ------------------------------------------------------------------ forms

function inputFor(name, schema, value) {
  const types = [].concat(schema.type || []);
  const type = types.find((t) => t !== "null") || "string";
  const attrs = { name, id: "field-" + name };
  if (schema.enum) {
    return h("select", attrs, (types.includes("null") ? [h("option", { value: "" }, "—")] : []),
      schema.enum.filter((v) => v !== null).map((v) => h("option", { value: String(v), selected: value === v }, String(v))));
  }
  if (type === "boolean") return h("input", { ...attrs, type: "checkbox", checked: value === true });
  if (type === "integer" || type === "number") {
    return h("input", { ...attrs, type: "number", step: type === "integer" ? "1" : "any", min: schema.minimum,
                        max: schema.maximum, value: value ?? "" });
  }
  if (type === "object" || type === "array") {
    return h("textarea", { ...attrs, rows: 3, placeholder: type === "array" ? "[ ]" : "{ }" },
      value === undefined || value === null ? "" : JSON.stringify(value, null, 2));
  }
  return h("input", { ...attrs, type: "text", value: value ?? "", placeholder: schema.format === "date-time" ? "2026-12-02T10:00:00Z" : "" });
}

// What the form holds, as the JSON the API takes. Empty optional fields are
// null on an edit (a merge patch removes them) and left out on a create.
function readForm(form, schema, editing) {
  const out = {};
  for (const [name, s] of Object.entries(schema.properties)) {
    const el = form.elements[name];
    if (!el) continue;
    const types = [].concat(s.type || []);
    const type = types.find((t) => t !== "null") || "string";
    let v;
    if (type === "boolean") v = el.checked;
    else if (el.value === "") v = null;
    else if (type === "integer" || type === "number") v = Number(el.value);
    else if (type === "object" || type === "array") {
      try {
        v = JSON.parse(el.value);
      } catch {
        v = el.value;  // the server says what is wrong with it
      }
    } else v = el.value;
    if (v === null && !editing) continue;
    out[name] = v;
  }
  return out;
}

function editRecord(c, rec) {
  const { create } = schemasFor(c);
  const editing = rec !== null;
  const messages = {};
  const general = h("p", { class: "error", role: "alert" });
  const rows = Object.entries(create.properties).map(([name, s]) => {
    messages[name] = h("span", { class: "field-error", id: "error-" + name });
    const required = (create.required || []).includes(name);
    return h("div", { class: "field" },
      h("label", { for: "field-" + name }, name, required ? h("span", { class: "req", title: "required" }, " *") : null),
      inputFor(name, s, editing ? rec[name] : s.default),
      h("small", {}, s.description || ""), messages[name]);
  });
  // novalidate: the server's own 422s, beside each field, are the rules' one voice.
  const form = h("form", { class: "card record-form", novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    for (const m of Object.values(messages)) m.textContent = "";
    general.textContent = "";
    const body = readForm(form, create, editing);
    const r = editing
      ? await call("PATCH", `/${c.name}/${encodeURIComponent(rec.id)}`,
        { body, contentType: "application/merge-patch+json", headers: { "If-Match": `"${rec.id}.${rec.version}:json:standard"` } })
      : await call("POST", "/" + c.name, { body });
    if (r.status === 200 || r.status === 201) {
      location.hash = "#/" + c.name;
      return route();
    }
    // 422: each field's message beside it; anything else above the buttons.
    const e0 = r.body && r.body.error;
    const details = e0 ? (e0.details && e0.details.length ? e0.details : [e0]) : [];
    let shown = false;
    for (const d of details) {
      if (d.field && messages[d.field.split(".")[0]]) {
        messages[d.field.split(".")[0]].textContent = d.message;
        shown = true;
      }
    }
    if (!shown) general.textContent = r.status === 412 ? "Someone changed this record meanwhile; reload it." : errorText(r.body);
  } },
    h("h1", {}, editing ? `Edit ${c.singular} ${rec.id}` : `New ${c.singular}`),
    rows, general,
    h("div", { class: "buttons" },
      h("button", { type: "submit" }, editing ? "Save" : "Create"),
      h("button", { type: "button", class: "link", onclick: () => { location.hash = "#/" + c.name; route(); } }, "Cancel")));
  stopFeed();
  layout(c.name, form);
  form.querySelector("input, select, textarea")?.focus();
}

async function deleteRecord(c, rec) {
  if (!confirm(`Delete ${c.singular} ${rec.id}? This cannot be undone.`)) return;
  const r = await call("DELETE", `/${c.name}/${encodeURIComponent(rec.id)}`);
  if (r.status !== 200) alert(errorText(r.body));
  route();
}

// ------------------------------------------------------------------ live updates

function stopFeed() {
  if (state.feed) state.feed.abort();
  state.feed = null;
}

function startFeed(c, query) {
  stopFeed();
  const controller = new AbortController();
  state.feed = controller;
  let pending = null;
  follow(`/${c.name}/events`, (ev) => {
    state.lastEvent = `${ev.event} at ${new Date().toLocaleTimeString()}`;
    const live = document.getElementById("live");
    if (live) live.textContent = `Live: ${state.lastEvent}`;
    // Coalesce bursts: reload the page of records once they settle.
    clearTimeout(pending);
    pending = setTimeout(() => {
      if (state.feed === controller) showCollection(c, query);
    }, 200);
  }, controller.signal);
}

// ------------------------------------------------------------------ accounts

// Users and API keys, read-only: they are managed with `restd user` and
// `restd apikey` (no hash or key ever reaches the page).
async function showAccounts(path) {
  stopFeed();
  const r = await call("GET", "/" + path);
  if (r.status === 401) return signIn("Your session has ended; sign in again.");
  const title = path === "_users" ? "Users" : "API keys";
  const columns = path === "_users" ? ["userName", "role", "id", "createdAt"] : ["label", "prefix", "createdAt"];
  const main = h("section", {}, h("div", { class: "title" }, h("h1", {}, title)));
  if (r.status !== 200) main.append(h("p", { class: "error", role: "alert" }, errorText(r.body)));
  else {
    main.append(h("table", { class: "accounts" },
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", {}, c)))),
      h("tbody", {}, r.body.data.map((row) => h("tr", {}, columns.map((c) => h("td", {}, cell(row[c]))))))));
    main.append(h("p", { class: "empty" }, path === "_users"
      ? "Add, remove or change users with restd user add | remove | passwd | unlock."
      : "Create or revoke keys with restd apikey create | revoke."));
  }
  layout(path, main);
}

// ------------------------------------------------------------------ routing

async function route() {
  const [name, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  if (name === "_users" || name === "_apikeys") return showAccounts(name);
  const c = state.index.collections.find((x) => x.name === name) || state.index.collections[0];
  if (!c) return layout("", h("p", {}, "This server declares no collections."));
  await showCollection(c, name === c.name ? query : "");
}

async function start() {
  if (!token()) return signIn();
  const [me, index, doc] = await Promise.all([call("GET", "/me"), call("GET", "/"), call("GET", "/openapi.json")]);
  if (!me.body || !me.body.data || !me.body.data.logged_in) {
    setToken(null);
    return signIn();
  }
  state.me = me.body.data;
  state.index = index.body.data;
  state.doc = doc.body;
  window.onhashchange = route;
  await route();
}

start();
