/* Shared browser helpers: translated labels, the JSON API with CSRF, the live socket. */
(function () {
  "use strict";
  // Labels from the language's cached script, the page's own settings from the page.
  const i18n = Object.assign({}, window.telemedLabels, JSON.parse(document.getElementById("i18n").textContent));
  // The session's form token, from the logout form every signed-in page has (one copy a page).
  const csrfToken = document.getElementById("logout-form").elements.csrf_token.value;

  function label(group, key) {
    return (i18n.labels[group] && i18n.labels[group][key]) || key;
  }
  function msg(key) { return i18n.messages[key] || key; }

  function uuid4() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  class ApiError extends Error {
    constructor(status, error) {
      super(error.message);
      this.status = status;
      this.code = error.code;
      this.fields = error.fields || {};
    }
  }

  async function api(method, path, body) {
    const options = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (method !== "GET") options.headers["X-CSRFToken"] = csrfToken;
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(`/api/v1${path}`, options);
    } catch (networkError) {
      throw new ApiError(0, { code: "offline", message: msg("disconnected") });
    }
    if (response.status === 204) return null;
    const data = await response.json().catch(() => ({ error: { code: "bad_response", message: msg("error") } }));
    if (!response.ok) throw new ApiError(response.status, data.error);
    return data;
  }

  /* Every item of a list, read a page of the API's largest size at a time (`path` without limit or
     offset): a region's facilities or a long queue are not cut off at the first page. */
  const LARGEST_PAGE = 500;
  async function apiAll(path) {
    const items = [];
    const joiner = path.includes("?") ? "&" : "?";
    for (;;) {
      const page = await api("GET", `${path}${joiner}limit=${LARGEST_PAGE}&offset=${items.length}`);
      items.push(...page.items);
      if (!page.items.length || items.length >= page.total) return items;
    }
  }

  /* A refusal shown on its form, the same way on every page: each field named by its own label
     (the request form's by their names), with the reason in words; each field marked
     aria-invalid, and the first one focused. A refusal naming no field shows its message. */
  function showErrors(form, box, err) {
    for (const marked of form.querySelectorAll("[aria-invalid]")) marked.removeAttribute("aria-invalid");
    const fields = err instanceof ApiError ? Object.entries(err.fields) : [];
    const lines = [];
    for (const [path, reasons] of fields) {
      const input = form.querySelector(`[name="${path.split(".").pop()}"]`);
      const own = input && input.closest("label") ? input.closest("label").firstChild.textContent.trim() : "";
      const name = label("field", path) !== path ? label("field", path) : own || path;
      lines.push(`${name}: ${[].concat(reasons).join(" ")}`);
      if (input) input.setAttribute("aria-invalid", "true");
    }
    box.textContent = lines.length ? lines.join(" ") : describeError(err);
    box.hidden = false;
    const first = form.querySelector("[aria-invalid=true]");  // the first in the form's order
    if (first) first.focus(); else box.scrollIntoView({ block: "center" });
  }

  function describeError(err) {
    if (!(err instanceof ApiError)) return msg("error");
    const details = Object.entries(err.fields).map(([f, m]) => `${label("field", f)}: ${[].concat(m).join(" ")}`);
    return [err.message].concat(details).join(" ");
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // Times in the page's language and the district's clock (not the phone's, which may be wrong).
  function time(iso) {
    return iso ? new Date(iso).toLocaleTimeString(i18n.locale, { hour: "2-digit", minute: "2-digit", timeZone: i18n.timezone }) : "";
  }
  function dateTime(iso) {
    return iso ? new Date(iso).toLocaleString(i18n.locale, { dateStyle: "short", timeStyle: "short", timeZone: i18n.timezone }) : "";
  }
  function age(patient) {
    if (patient.age_months !== null && patient.age_months !== undefined) return `${patient.age_months} ${msg("months")}`;
    return `${patient.age_years} ${msg("years")}`;
  }
  function summary(c) {
    return `${age(c.patient)} · ${label("sex", c.patient.sex)} · ${c.complaint}`;
  }
  function priorityBadge(c) {
    return el("span", { class: `badge ${c.effective_priority}` }, label("priority", c.effective_priority),
      c.escalation_level ? ` ↑${c.escalation_level}` : "");
  }
  /* Why the effective priority differs from the one asked for: NEWS2 and escalation. */
  // A vital sign's value in the page's language (a decimal comma in ru and kk) with its unit.
  function vitalValue(key, value) {
    if (typeof value === "boolean") return value ? msg("yes") : "";
    const text = typeof value === "number" ? String(value).replace(".", i18n.decimal) : String(value);
    const unit = label("unit", key);
    return unit === key ? text : `${text} ${unit}`;
  }
  function triageNote(c) {
    const parts = [];
    if (c.news2) {
      // Each reason is "<vital> <points>": named in words, as on the form.
      const reasons = c.news2.reasons.map((r) => { const [k, n] = r.split(" "); return `${label("field", "vitals." + k)} +${n}`; });
      parts.push(`NEWS2 ${c.news2.score}` + (reasons.length ? ` (${reasons.join(", ")})` : ""));
    }
    if (c.effective_priority !== c.priority) {
      parts.push(`${msg("priority_raised")}: ${label("priority", c.priority)} → ${label("priority", c.effective_priority)}`);
    }
    if (c.escalation_level) parts.push(`${msg("escalated")} ×${c.escalation_level}`);
    return parts.join(" · ");
  }
  function waitNote(c) {
    if (c.status !== "waiting") return "";
    if (c.doctors_available === 0) return msg("no_doctor_online");
    if (c.estimated_wait_s === null || c.estimated_wait_s === undefined) return "";
    return `${msg("estimated_wait")}: ~${Math.max(1, Math.round(c.estimated_wait_s / 60))} ${msg("minutes_short")}`;
  }

  /* The live connection. Every (re)connect brings a full snapshot from the server. */
  function connect(handlers) {
    const indicator = document.getElementById("connection");
    // A websocket first: on a 2G line the page is live a round trip or two sooner, with fewer
    // bytes, than over long-polling that upgrades later. Where a proxy lets no websocket through,
    // long-polling is tried next (tryAllTransports).
    const socket = io({ transports: ["websocket", "polling"], tryAllTransports: true, reconnectionDelayMax: 5000 });
    const show = (state) => {
      if (!indicator) return;
      indicator.dataset.state = state;
      indicator.textContent = state === "online" ? msg("connected") : msg("disconnected");
    };
    socket.on("connect", () => { show("online"); outbox.flush(); });
    socket.on("disconnect", () => show("offline"));
    socket.on("connect_error", () => show("offline"));
    // This browser session logged out (perhaps in another tab): back to the login page.
    socket.on("session:ended", () => { window.location.href = "/login"; });
    for (const [event, handler] of Object.entries(handlers || {})) socket.on(event, handler);
    return socket;
  }

  function emit(socket, event, payload) {
    return new Promise((resolve, reject) => {
      socket.timeout(15000).emit(event, payload, (err, answer) => {
        if (err) reject(new ApiError(0, { code: "timeout", message: msg("disconnected") }));
        else if (answer && answer.ok) resolve(answer);
        else reject(new ApiError(409, (answer && answer.error) || { code: "error", message: msg("error") }));
      });
    });
  }

  /* Doctors' messages the post has seen, per consultation (in this browser): the post's page shows
     the rest as unread. */
  const SEEN_KEY = `telemed.seen.${document.body.dataset.userId}`;
  const seen = {
    all() { try { return JSON.parse(localStorage.getItem(SEEN_KEY) || "{}"); } catch (e) { return {}; } },
    count(id) { return this.all()[id] || 0; },
    mark(id, count) { const all = this.all(); all[id] = Math.max(all[id] || 0, count); localStorage.setItem(SEEN_KEY, JSON.stringify(all)); },
  };
  /* A short tone and a vibration, where the phone allows them (a page may not play sound before
     the person has touched it once). */
  function alertNewMessage() {
    try {
      const audio = new (window.AudioContext || window.webkitAudioContext)();
      const tone = audio.createOscillator();
      tone.frequency.value = 880;
      tone.connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.25);
    } catch (e) { /* no sound here */ }
    if (navigator.vibrate) navigator.vibrate([200, 100, 200]);
  }

  /* A file sent with its progress shown (on a slow line the post sees it move). Answers as api()
     does: an ApiError, status 0 when the line is down. */
  function upload(path, item, onProgress) {
    return new Promise((resolve, reject) => {
      const data = new FormData();
      data.append("file", item.file, item.filename);
      data.append("client_key", item.client_key);
      const request = new XMLHttpRequest();
      request.open("POST", `/api/v1${path}`);
      request.setRequestHeader("X-CSRFToken", csrfToken);
      request.setRequestHeader("Accept", "application/json");
      if (onProgress) request.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded, e.total); };
      request.onload = () => {
        let answer = null;
        try { answer = JSON.parse(request.responseText); } catch (e) { /* not JSON */ }
        if (request.status >= 200 && request.status < 300) resolve(answer);
        else reject(new ApiError(request.status, (answer && answer.error) || { code: "error", message: msg("error") }));
      };
      request.onerror = () => reject(new ApiError(0, { code: "offline", message: msg("disconnected") }));
      request.send(data);
    });
  }

  /* One queued item on its way: a photo as a form upload, anything else as JSON. */
  function deliver(item, onProgress) {
    return item.file ? upload(item.path, item, onProgress) : api(item.method, item.path, item.body);
  }

  /* The outbox: what was typed (or photographed) while the line was down, kept in this browser's
     IndexedDB with its client_key, so it survives a reload, a closed browser and a restarted
     phone, and is sent in order when the line returns. The server answers a repeated key with
     the stored object, so an item whose answer was lost (or that two tabs both send) is created
     once. items() reads a copy kept in step with the database, so pages draw without waiting. */
  const userId = Number(document.body.dataset.userId);
  const OUTBOX_STORE = "outbox";
  const database = new Promise((resolve, reject) => {
    const opening = indexedDB.open("telemed", 1);
    opening.onupgradeneeded = () => opening.result.createObjectStore(OUTBOX_STORE, { keyPath: "seq", autoIncrement: true });
    opening.onsuccess = () => resolve(opening.result);
    opening.onerror = () => reject(opening.error);
  });
  function stored(mode, work) {
    return database.then((db) => new Promise((resolve, reject) => {
      const transaction = db.transaction(OUTBOX_STORE, mode);
      const answer = work(transaction.objectStore(OUTBOX_STORE));
      transaction.oncomplete = () => resolve(answer.result);
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error);
    }));
  }
  const outbox = {
    copy: [],
    items() { return this.copy; },
    /* Read this person's items again (another tab may have sent or added some). */
    async load() {
      const all = await stored("readonly", (store) => store.getAll());
      this.copy = all.filter((item) => item.user_id === userId);
      document.dispatchEvent(new CustomEvent("telemed:outbox"));
    },
    async add(item) {
      await stored("readwrite", (store) => store.add(Object.assign({ user_id: userId, queued_at: new Date().toISOString() }, item)));
      await this.load();
    },
    async remove(item) {
      await stored("readwrite", (store) => store.delete(item.seq));
      await this.load();
    },
    flushing: false,
    async flush() {
      if (this.flushing) return;
      this.flushing = true;
      try {
        await this.load();
        for (const item of this.copy) {
          try {
            const result = await deliver(item);
            document.dispatchEvent(new CustomEvent("telemed:sent", { detail: { item, result } }));
          } catch (err) {
            // Still offline, the server busy, over a rate limit (429) or the login ended (401, kept
            // for after the next login): the item stays queued and is tried again, never dropped.
            if (!(err instanceof ApiError) || err.status === 0 || err.status >= 500
                || err.status === 429 || err.status === 401) break;
            document.dispatchEvent(new CustomEvent("telemed:failed", { detail: { item, error: err } }));
          }
          await this.remove(item);
        }
      } finally { this.flushing = false; }
    },
  };
  /* Items queued by the previous version, which kept them in localStorage, move to IndexedDB. */
  async function adoptOldOutbox() {
    const key = `telemed.outbox.${userId}`;
    const old = JSON.parse(localStorage.getItem(key) || "[]");
    for (const { id, ...item } of old) await outbox.add(item);
    localStorage.removeItem(key);
  }
  adoptOldOutbox().catch(() => {}).then(() => outbox.flush());
  window.addEventListener("online", () => outbox.flush());
  setInterval(() => outbox.flush(), 10000);

  /* Send now if the line is up; if it is down, keep it in the outbox. `item` is {method, path,
     body, label} or, for a photo, {path, file, filename, client_key, label}. Resolves to the
     server's answer, or to {queued: true}. Refusals (4xx) are thrown, never queued. */
  async function send(item, onProgress) {
    try {
      return await deliver(item, onProgress);
    } catch (err) {
      if (err instanceof ApiError && err.status > 0 && err.status < 500) throw err;
      await outbox.add(item);
      return { queued: true };
    }
  }

  /* Send a change, then reload the list it shows in; a refusal is shown, not swallowed. */
  async function changeAndReload(method, path, body, reload) {
    try { await api(method, path, body); await reload(); } catch (err) { alert(describeError(err)); }
  }

  /* An "add" form: send it, then clear it and reload the list; a refusal is shown under it. */
  function handleAddForm(form, error, send, reload) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hidden = true;
      try {
        await send(form.elements);
        form.reset();
        await reload();
      } catch (err) { showErrors(form, error, err); }
    });
  }

  /* Server-side paging for a list: "51–100 of 493" between Previous and Next, in `nav`.
     `load(offset, limit)` shows one page and resolves to the list's total. */
  const PAGE_SIZE = 50;
  function pager(nav, load) {
    let offset = 0;
    const status = el("span", { class: "pager-status", role: "status" });
    const previous = el("button", { type: "button", class: "secondary", onclick: () => show(offset - PAGE_SIZE) }, msg("previous"));
    const next = el("button", { type: "button", class: "secondary", onclick: () => show(offset + PAGE_SIZE) }, msg("next"));
    nav.replaceChildren(previous, status, next);
    async function show(to) {
      offset = Math.max(0, to);
      const total = await load(offset, PAGE_SIZE);
      if (offset > 0 && offset >= total) return show(Math.floor((total - 1) / PAGE_SIZE) * PAGE_SIZE);
      const last = Math.min(total, offset + PAGE_SIZE);
      status.textContent = total ? msg("range_of").replace("{first}", offset + 1).replace("{last}", last).replace("{total}", total)
        : msg("none_found");
      previous.disabled = offset === 0;
      next.disabled = last >= total;
      return total;
    }
    return { first: () => show(0), again: () => show(offset) };
  }

  window.telemed = { pager, showErrors, changeAndReload, handleAddForm, api, apiAll, ApiError, describeError, el, label, msg, uuid4, time, dateTime, age,
                     summary, priorityBadge, triageNote, vitalValue, waitNote, connect, emit, outbox, send,
                     seen, alertNewMessage, csrfToken, decimalSymbol: () => i18n.decimal, timezone: () => i18n.timezone, userId, role: document.body.dataset.role };
})();
