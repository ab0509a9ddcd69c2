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
    const found = {};  // field path -> reasons, as the server's refusals name them
    for (const [name, rule] of Object.entries(rules)) {
      const input = form.elements[name];
      if (!input) continue;
      const raw = input.value.trim();
      const say = (text) => { found[rule.path] = (found[rule.path] || []).concat(text); };
      if (!raw) { if (rule.required) say(t.msg("field_required")); continue; }
      if (rule.maxlength && raw.length > rule.maxlength) say(t.msg("too_long").replace("{max}", rule.maxlength));
      if (rule.min === undefined && rule.max === undefined) continue;
      const value = Number(raw.replace(",", "."));
      if (Number.isNaN(value)) say(t.msg("not_a_number"));
      else if (value < rule.min || value > rule.max) say(t.msg("out_of_range").replace("{min}", rule.min).replace("{max}", rule.max));
    }
    return found;
  }

  /* The IIN's own arithmetic, as the server's (services/clinical_codes.py, parse_iin): the birth
     date and sex it encodes, or the key of the reason it is no IIN. */
  function readIin(iin) {
    if (!/^\d{12}$/.test(iin)) return { problem: "iin_digits" };
    const d = [...iin].map(Number);
    const weighted = (weights) => d.slice(0, 11).reduce((sum, x, i) => sum + x * weights[i], 0) % 11;
    let check = weighted([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    if (check === 10) check = weighted([3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]);
    if (check !== d[11]) return { problem: "iin_check_digit" };
    if (d[6] < 1 || d[6] > 6) return { problem: "iin_century" };
    const year = 1800 + 100 * Math.floor((d[6] - 1) / 2) + Number(iin.slice(0, 2));
    const month = Number(iin.slice(2, 4)), day = Number(iin.slice(4, 6));
    const born = new Date(Date.UTC(year, month - 1, day));
    if (born.getUTCMonth() !== month - 1 || born.getUTCDate() !== day) return { problem: "iin_date" };
    return { year, month, day, sex: d[6] % 2 ? "male" : "female" };
  }

  /* The rules between fields, as the server's (schemas/consultation.py, REQUEST_RULES, in the
     same order, in the same words): [field path, message] for the first one broken. Today is the
     district's, whatever the phone's clock zone. */
  function brokenRule(body) {
    const { age_years: years, age_months: months, iin, sex } = body.patient;
    const say = (path, key, values) => [path, Object.entries(values || {})
      .reduce((text, [name, value]) => text.replace(`%(${name})s`, value), t.msg(key))];
    const vitals = body.vitals;
    const dbp = vitals.sbp !== undefined && vitals.dbp !== undefined && vitals.dbp >= vitals.sbp
      ? say("vitals.dbp", "dbp_not_below_sbp") : null;
    if (years !== undefined && months !== undefined) return say("patient.age_years", "age_twice");
    if (iin === undefined) return years === undefined && months === undefined ? say("patient.age_years", "age_missing") : dbp;
    const read = readIin(iin);
    if (read.problem) return say("patient.iin", read.problem);
    const [ty, tm, td] = new Intl.DateTimeFormat("en-CA", { timeZone: t.timezone() }).format(new Date()).split("-").map(Number);
    if (read.year * 10000 + read.month * 100 + read.day > ty * 10000 + tm * 100 + td) return say("patient.iin", "iin_future");
    const ageMonths = (ty - read.year) * 12 + (tm - read.month) - (td < read.day ? 1 : 0);
    if (years !== undefined && years !== Math.floor(ageMonths / 12)) return say("patient.iin", "iin_years", { age: Math.floor(ageMonths / 12), given: years });
    if (months !== undefined && months !== ageMonths) return say("patient.iin", "iin_months", { age: ageMonths, given: months });
    if (sex !== "unknown" && sex !== read.sex) return say("patient.iin", read.sex === "male" ? "iin_male" : "iin_female");
    return dbp;
  }
  t.brokenRule = brokenRule;  // for the browser tests that hold it to the server's answers

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    formError.hidden = true;
    const found = problems();
    if (!Object.keys(found).length) {
      const broken = brokenRule(readForm());
      if (broken) found[broken[0]] = [broken[1]];
    }
    if (Object.keys(found).length) {
      t.showErrors(form, formError, new t.ApiError(422, { code: "validation_error", message: "", fields: found }));
      return;
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const body = readForm();
      const answer = await t.send({ method: "POST", path: "/consultations", body, label: body.complaint });
      form.reset();
      if (answer.queued) renderPending(); else upsert(answer);
    } catch (err) {
      t.showErrors(form, formError, err);
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
    t.showErrors(form, formError, e.detail.error);
    formError.textContent = `${t.msg("refused")}: ${e.detail.item.label} — ${formError.textContent}`;
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
