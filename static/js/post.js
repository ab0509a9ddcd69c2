/* The post's screen: open a request, follow the post's requests live. */
(function () {
  "use strict";
  const t = window.telemed;
  const form = document.getElementById("new-request");
  const formError = document.getElementById("form-error");
  const openList = document.getElementById("open-list");
  const closedList = document.getElementById("closed-list");
  const pendingList = document.getElementById("pending-list");
  const consultations = new Map();
  const doctorMessages = new Map();  // consultation id -> messages the doctor wrote
  const pageTitle = document.title;

  function unread(id) { return Math.max(0, (doctorMessages.get(id) || 0) - t.seen.count(id)); }

  const INTEGER_VITALS = ["sbp", "dbp", "hr", "rr", "spo2"];
  const DECIMAL_VITALS = ["temp_c", "glucose_mmol"];

  function readForm() {
    const f = new FormData(form);
    // A decimal comma is read as a point ("38,4" is 38.4); what is no number is sent as typed,
    // so the server names the field instead of the value silently vanishing.
    const number = (text) => { const n = Number(text.trim().replace(",", ".")); return Number.isNaN(n) ? text : n; };
    const num = (name) => (f.get(name) === "" || f.get(name) === null ? null : number(f.get(name)));
    const vitals = {};
    for (const name of INTEGER_VITALS.concat(DECIMAL_VITALS)) { const v = num(name); if (v !== null) vitals[name] = v; }
    if (f.get("avpu")) vitals.avpu = f.get("avpu");
    if (form.elements.on_oxygen.checked) vitals.on_oxygen = true;
    const patient = { sex: f.get("sex") };
    const years = num("age_years"), months = num("age_months");
    if (years !== null) patient.age_years = years;
    if (months !== null) patient.age_months = months;
    if (f.get("iin")) patient.iin = f.get("iin").trim();
    if (f.get("ref")) patient.ref = f.get("ref").trim();
    // A fresh key per request; a request that cannot go now keeps its key in the outbox.
    return { client_key: t.uuid4(), patient, complaint: f.get("complaint"), vitals,
             priority: f.get("priority"), specialty: f.get("specialty") };
  }

  /* The server's own limits for each field (from its schemas, rendered into the page): an entry
     is checked before it is sent or queued, so a slip is caught while the patient is still there,
     not when the line returns. The server still checks everything (cross-field rules included). */
  const rules = JSON.parse(document.getElementById("form-rules").textContent);
  function problems() {
    const found = [];
    for (const [name, rule] of Object.entries(rules)) {
      const input = form.elements[name];
      if (!input) continue;
      const raw = input.value.trim();
      const say = (text) => found.push(`${t.label("field", rule.path)}: ${text}`);
      if (!raw) { if (rule.required) say(t.msg("field_required")); continue; }
      if (rule.maxlength && raw.length > rule.maxlength) say(t.msg("too_long").replace("{max}", rule.maxlength));
      if (rule.min === undefined && rule.max === undefined) continue;
      const value = Number(raw.replace(",", "."));
      if (Number.isNaN(value)) say(t.msg("not_a_number"));
      else if (value < rule.min || value > rule.max) say(t.msg("out_of_range").replace("{min}", rule.min).replace("{max}", rule.max));
    }
    return found;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.hidden = true;
    const found = problems();
    if (found.length) {
      formError.textContent = found.join(" ");
      formError.hidden = false;
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const body = readForm();
      const answer = await t.send("POST", "/consultations", body, body.complaint);
      form.reset();
      if (answer.queued) renderPending(); else upsert(answer);
    } catch (err) {
      formError.textContent = t.describeError(err);
      formError.hidden = false;
    } finally {
      button.disabled = false;
    }
  });

  function item(c) {
    const state = c.status === "waiting" && c.queue_position
      ? `${t.label("status", c.status)} · ${t.msg("position")}: ${c.queue_position}`
      : t.label("status", c.status);
    const triage = t.triageNote(c);
    const wait = t.waitNote(c);
    const outcome = c.outcome
      ? t.el("div", { class: "outcome-line" }, `${t.msg("outcome")}: ${t.label("disposition", c.outcome.disposition)} · ${c.outcome.icd10.join(", ")} — ${c.outcome.recommendation}`)
      : null;
    const fresh = unread(c.id);
    return t.el("li", { class: `consultation ${c.status}`, dataset: { id: c.id, status: c.status } },
      t.priorityBadge(c), " ",
      fresh ? t.el("span", { class: "unread", title: t.msg("unread_messages") }, `✉ ${fresh}`) : null, fresh ? " " : null,
      t.el("a", { href: `/consultations/${c.id}` }, t.summary(c)),
      t.el("div", { class: "meta" }, `${t.time(c.created_at)} · ${t.label("specialty", c.specialty)} · `,
        t.el("span", { class: "status" }, state),
        c.doctor ? ` · ${t.msg("doctor")}: ${c.doctor.full_name}` : ""),
      triage ? t.el("div", { class: "triage" }, triage) : null,
      wait ? t.el("div", { class: "wait" }, wait) : null,
      outcome);
  }

  /* Requests typed while the line was down, waiting in this browser's outbox. */
  function renderPending() {
    const pending = t.outbox.items().filter((i) => i.path === "/consultations");
    pendingList.replaceChildren(...pending.map((i) => t.el("li", { class: "consultation pending", dataset: { status: "pending", key: i.body.client_key } },
      t.el("span", { class: "badge" }, "…"), " ", i.label,
      t.el("div", { class: "meta" }, t.msg("pending")))));
  }
  document.addEventListener("telemed:outbox", renderPending);
  document.addEventListener("telemed:sent", (e) => { if (e.detail.item.path === "/consultations") upsert(e.detail.result); });
  /* A request typed offline that the server refused when the line came back: everything typed
     goes back into the form, with the reason, to be corrected and sent again. Never lost. */
  function fillForm(body) {
    const f = form.elements;
    const set = (name, value) => { if (f[name]) f[name].value = value === undefined || value === null ? "" : String(value); };
    const decimal = (v) => (typeof v === "number" ? String(v).replace(".", t.decimalSymbol()) : v);
    form.reset();
    for (const name of ["age_years", "age_months", "sex", "iin", "ref"]) set(name, body.patient[name]);
    for (const name of INTEGER_VITALS) set(name, body.vitals[name]);
    for (const name of DECIMAL_VITALS) set(name, decimal(body.vitals[name]));
    set("avpu", body.vitals.avpu);
    f.on_oxygen.checked = Boolean(body.vitals.on_oxygen);
    set("complaint", body.complaint);
    set("priority", body.priority);
    set("specialty", body.specialty);
  }
  document.addEventListener("telemed:failed", (e) => {
    if (e.detail.item.path !== "/consultations") return;
    fillForm(e.detail.item.body);
    formError.textContent = `${t.msg("refused")}: ${e.detail.item.label} — ${t.describeError(e.detail.error)}`;
    formError.hidden = false;
    formError.scrollIntoView({ block: "center" });
  });

  function render() {
    const all = [...consultations.values()];
    const open = all.filter((c) => c.status === "waiting" || c.status === "active")
      .sort((a, b) => a.created_at.localeCompare(b.created_at));
    const done = all.filter((c) => c.status === "closed" || c.status === "cancelled")
      .sort((a, b) => (b.closed_at || b.cancelled_at || "").localeCompare(a.closed_at || a.cancelled_at || ""));
    openList.replaceChildren(...(open.length ? open.map(item) : [t.el("li", { class: "empty" }, t.msg("no_open"))]));
    const total = open.reduce((sum, c) => sum + unread(c.id), 0);
    document.title = total ? `(${total}) ${pageTitle}` : pageTitle;
    closedList.replaceChildren(...done.slice(0, 20).map(item));
  }

  function upsert(c) { consultations.set(c.id, c); render(); }

  t.connect({
    "consultations:snapshot": (snapshot) => {
      for (const [id, c] of consultations) if (c.status === "waiting" || c.status === "active") consultations.delete(id);
      for (const c of snapshot.items) { consultations.set(c.id, c); doctorMessages.set(c.id, c.doctor_messages || 0); }
      render();
    },
    /* The doctor wrote: counted as unread until the post opens the consultation; a tone too. */
    "message:new": (m) => {
      if (!consultations.has(m.consultation_id) || !m.sender || m.sender.role !== "doctor") return;
      doctorMessages.set(m.consultation_id, (doctorMessages.get(m.consultation_id) || 0) + 1);
      render();
      t.alertNewMessage();
    },
    "consultation:update": upsert,
    /* Places and expected waits of this post's waiting requests: applied in place, one redraw. */
    "queue:positions": ({ items }) => {
      for (const p of items) {
        const c = consultations.get(p.id);
        if (c && c.status === "waiting") Object.assign(c, p);
      }
      render();
    },
  });

  /* Follow-ups the doctors asked for: overdue first, then today's. */
  async function loadFollowUps() {
    const [overdue, today] = await Promise.all([t.api("GET", "/follow-ups?due=overdue"), t.api("GET", "/follow-ups?due=today")]);
    const items = overdue.items.map((c) => [c, true]).concat(today.items.map((c) => [c, false]));
    document.getElementById("follow-ups").replaceChildren(...(items.length ? items.map(([c, late]) =>
      t.el("li", { class: `consultation${late ? " overdue" : ""}`, dataset: { id: c.id } },
        t.el("strong", {}, c.outcome.follow_up_on), late ? ` (${t.msg("overdue_follow_up")}) ` : " ",
        t.el("a", { href: `/consultations/${c.id}` }, t.summary(c)),
        t.el("div", { class: "meta" }, c.outcome.recommendation),
        t.el("button", { type: "button", class: "done", onclick: async () => {
          try { await t.api("POST", `/consultations/${c.id}/follow-up`, {}); await loadFollowUps(); }
          catch (err) { alert(t.describeError(err)); }
        } }, t.msg("follow_up_done")))) : [t.el("li", { class: "empty" }, "—")]));
  }
  loadFollowUps().catch(() => {});

  t.api("GET", "/consultations?status=closed&limit=10").then((page) => {
    for (const c of page.items) if (!consultations.has(c.id)) consultations.set(c.id, c);
    render();
  }).catch(() => {});
  render();
  renderPending();
  // The offline shell: /post opens from the phone's cache when there is no line (sw.js).
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
})();
