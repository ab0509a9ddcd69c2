/* One consultation: details, timeline, chat; the doctor closes it with an outcome. */
(function () {
  "use strict";
  const t = window.telemed;
  const id = document.getElementById("consultation").dataset.id;
  const $ = (sel) => document.getElementById(sel);
  const messages = new Map();
  const chosenCodes = new Map();
  let current = null;
  let socket;

  function renderConsultation(c) {
    current = c;
    $("c-priority").replaceWith(Object.assign(t.priorityBadge(c), { id: "c-priority" }));
    $("c-title").textContent = `${t.label("specialty", c.specialty)} · ${t.dateTime(c.created_at)}`;
    $("c-status").textContent = t.label("status", c.status);
    $("c-status").dataset.status = c.status;
    $("c-facility").textContent = `${c.facility.name} (${c.requester.full_name})`;
    $("c-doctor").textContent = c.doctor ? `${t.msg("doctor")}: ${c.doctor.full_name}` : "";
    const p = c.patient;
    $("c-patient").textContent = [t.age(p), t.label("sex", p.sex), p.iin, p.ref].filter(Boolean).join(" · ");
    $("c-complaint").textContent = c.complaint;
    $("c-vitals").replaceChildren(...Object.entries(c.vitals || {}).flatMap(([k, v]) =>
      [t.el("dt", {}, k), t.el("dd", {}, String(v))]));
    const outcome = $("c-outcome");
    outcome.hidden = !c.outcome;
    if (c.outcome) {
      outcome.replaceChildren(
        t.el("h2", {}, t.msg("outcome")),
        t.el("p", { class: "disposition" }, t.label("disposition", c.outcome.disposition)),
        t.el("p", { class: "codes" }, c.outcome.icd10.join(", ")),
        t.el("p", {}, `${t.msg("recommendation")}: ${c.outcome.recommendation}`),
        c.outcome.follow_up_on ? t.el("p", {}, `${t.msg("follow_up_on")}: ${c.outcome.follow_up_on}`) : null);
    }
    const mine = c.doctor && c.doctor.id === t.userId;
    $("close-form").hidden = !(t.role === "doctor" && c.status === "active" && mine);
    $("post-actions").hidden = !(t.role === "feldsher" && c.status === "waiting");
    const chatOpen = (c.status === "waiting" || c.status === "active") && (t.role === "feldsher" || mine);
    $("message-form").hidden = !chatOpen;
    if (c.events) {
      $("c-events").replaceChildren(...c.events.map((e) => t.el("li", {},
        `${t.time(e.created_at)} — ${t.label("event", e.kind)}${e.actor ? ` (${e.actor.full_name})` : ""}${e.payload && e.payload.reason ? `: ${e.payload.reason}` : ""}`)));
    }
  }

  function renderMessages() {
    const sorted = [...messages.values()].sort((a, b) => a.created_at.localeCompare(b.created_at));
    $("messages").replaceChildren(...sorted.map((m) => t.el("li",
      { class: m.sender.id === t.userId ? "mine" : "theirs", dataset: { id: m.id } },
      t.el("span", { class: "sender" }, m.sender.id === t.userId ? t.msg("you") : m.sender.full_name),
      t.el("span", { class: "time" }, t.time(m.created_at)),
      t.el("p", {}, m.body))));
    $("messages").scrollTop = $("messages").scrollHeight;
  }

  async function reload() {
    renderConsultation(await t.api("GET", `/consultations/${id}`));
    const page = await t.api("GET", `/consultations/${id}/messages`);
    messages.clear();
    for (const m of page.items) messages.set(m.id, m);
    renderMessages();
  }

  socket = t.connect({
    connect: () => reload().catch((err) => alert(t.describeError(err))),
    "consultation:update": (c) => { if (c.id === id) reload().catch(() => renderConsultation(c)); },
    "message:new": (m) => { if (m.consultation_id === id) { messages.set(m.id, m); renderMessages(); } },
  });

  $("message-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = event.target.elements.body;
    const body = box.value.trim();
    if (!body) return;
    try {
      const answer = await t.emit(socket, "message:send", { consultation_id: id, body, client_key: t.uuid4() });
      messages.set(answer.message.id, answer.message);
      box.value = "";
      renderMessages();
    } catch (err) { alert(t.describeError(err)); }
  });

  $("cancel-request").addEventListener("click", async () => {
    if (!confirm(t.msg("confirm_cancel"))) return;
    try { renderConsultation(await t.api("POST", `/consultations/${id}/cancel`, {})); await reload(); }
    catch (err) { alert(t.describeError(err)); }
  });

  /* ICD-10: search by code or words, pick one or more. */
  const search = $("icd-search");
  let searchTimer = null;
  function renderChosen() {
    $("icd-chosen").replaceChildren(...[...chosenCodes].map(([code, title]) => t.el("li", { dataset: { code } },
      `${code} ${title} `, t.el("button", { type: "button", class: "link", "aria-label": "remove",
        onclick: () => { chosenCodes.delete(code); renderChosen(); } }, "×"))));
  }
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(async () => {
      const q = search.value.trim();
      if (!q) { $("icd-results").replaceChildren(); return; }
      const page = await t.api("GET", `/icd10?q=${encodeURIComponent(q)}`);
      $("icd-results").replaceChildren(...(page.items.length ? page.items.map((item) => t.el("li", {},
        t.el("button", { type: "button", class: "suggestion", dataset: { code: item.code },
          onclick: () => { chosenCodes.set(item.code, item.title); search.value = ""; $("icd-results").replaceChildren(); renderChosen(); } },
          `${item.code} — ${item.title}`))) : [t.el("li", { class: "empty" }, t.msg("no_matches"))]));
    }, 200);
  });

  $("close-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const f = event.target.elements;
    const error = $("close-error");
    error.hidden = true;
    try {
      await t.api("POST", `/consultations/${id}/close`, {
        disposition: f.disposition.value, icd10: [...chosenCodes.keys()],
        recommendation: f.recommendation.value, follow_up_on: f.follow_up_on.value || null,
      });
      await reload();
    } catch (err) { error.textContent = t.describeError(err); error.hidden = false; }
  });
})();
