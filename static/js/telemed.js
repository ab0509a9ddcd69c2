/* Shared browser helpers: translated labels, the JSON API with CSRF, the live socket. */
(function () {
  "use strict";
  const i18n = JSON.parse(document.getElementById("i18n").textContent);
  const csrfToken = document.querySelector('meta[name="csrf-token"]').content;

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
    const response = await fetch(`/api/v1${path}`, options);
    if (response.status === 204) return null;
    const data = await response.json().catch(() => ({ error: { code: "bad_response", message: msg("error") } }));
    if (!response.ok) throw new ApiError(response.status, data.error);
    return data;
  }

  function describeError(err) {
    if (!(err instanceof ApiError)) return msg("error");
    const details = Object.entries(err.fields).map(([f, m]) => `${f}: ${[].concat(m).join(" ")}`);
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

  function time(iso) {
    return iso ? new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "";
  }
  function dateTime(iso) {
    return iso ? new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "";
  }
  function age(patient) {
    if (patient.age_months !== null && patient.age_months !== undefined) return `${patient.age_months} ${msg("months")}`;
    return `${patient.age_years} ${msg("years")}`;
  }
  function summary(c) {
    return `${age(c.patient)} · ${label("sex", c.patient.sex)} · ${c.complaint}`;
  }
  function priorityBadge(c) {
    return el("span", { class: `badge ${c.effective_priority}` }, label("priority", c.effective_priority));
  }

  /* The live connection. Every (re)connect brings a full snapshot from the server. */
  function connect(handlers) {
    const indicator = document.getElementById("connection");
    const socket = io({ transports: ["polling", "websocket"], reconnectionDelayMax: 5000 });
    const show = (state) => {
      if (!indicator) return;
      indicator.dataset.state = state;
      indicator.textContent = state === "online" ? msg("connected") : msg("disconnected");
    };
    socket.on("connect", () => show("online"));
    socket.on("disconnect", () => show("offline"));
    socket.on("connect_error", () => show("offline"));
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

  window.telemed = { api, ApiError, describeError, el, label, msg, uuid4, time, dateTime, age,
                     summary, priorityBadge, connect, emit,
                     userId: Number(document.body.dataset.userId), role: document.body.dataset.role };
})();
