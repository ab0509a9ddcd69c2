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
    $("c-triage").textContent = [t.triageNote(c), t.waitNote(c)].filter(Boolean).join(" · ");
    const certs = c.requester_certifications || [];
    $("c-requester-certs").textContent = certs.length
      ? `${t.msg("requester_certs")}: ` + certs.map((h) => `${h.code} (${t.label("cert_status", h.status)}, ${h.expires_on})`).join(", ")
      : t.msg("requester_no_certs");
    $("c-flag-bls").hidden = !(c.flags || []).includes("requester_without_valid_bls");
    $("c-vitals").replaceChildren(...Object.entries(c.vitals || {}).flatMap(([k, v]) =>
      [t.el("dt", {}, t.label("field", `vitals.${k}`)), t.el("dd", {}, t.vitalValue(k, v))]));
    const outcome = $("c-outcome");
    outcome.hidden = !c.outcome;
    if (c.outcome) {
      outcome.replaceChildren(
        t.el("h2", {}, t.msg("outcome")),
        t.el("p", { class: "disposition" }, t.label("disposition", c.outcome.disposition)),
        t.el("p", { class: "codes" }, c.outcome.icd10.join(", ")),
        t.el("p", {}, `${t.msg("recommendation")}: ${c.outcome.recommendation}`),
        ...(c.outcome.follow_up_on ? [t.el("p", {}, `${t.msg("follow_up_on")}: ${c.outcome.follow_up_on}`)] : []));
    }
    const mine = c.doctor && c.doctor.id === t.userId;
    $("close-form").hidden = !(t.role === "doctor" && c.status === "active" && mine);
    $("doctor-actions").hidden = $("close-form").hidden;
    $("post-actions").hidden = !(t.role === "feldsher" && c.status === "waiting");
    const chatOpen = (c.status === "waiting" || c.status === "active") && (t.role === "feldsher" || mine);
    $("message-form").hidden = !chatOpen;
    $("attachment-form").hidden = !chatOpen;
    if (c.events) {
      $("c-events").replaceChildren(...c.events.map((e) => t.el("li", {},
        `${t.time(e.created_at)} — ${t.label("event", e.kind)}` + (e.actor ? ` (${e.actor.full_name})` : "")
          + (e.payload && e.payload.reason ? `: ${e.payload.reason}` : ""))));
    }
  }

  function attachmentView(a) {
    if (!a) return null;
    const link = t.el("a", { href: a.url, target: "_blank", rel: "noopener", class: "attachment" }, `${a.filename} (${Math.ceil(a.size_bytes / 1024)} KB)`);
    return a.content_type.startsWith("image/") ? t.el("div", {}, link, t.el("img", { src: a.url, alt: a.filename })) : link;
  }

  /* Messages and photos of this consultation still waiting in the outbox for the line. */
  function pendingItems() {
    return t.outbox.items().filter((i) => i.path === `/consultations/${id}/messages` || i.path === `/consultations/${id}/attachments`);
  }

  function messageItem(m) {
    return t.el("li",
      { class: m.sender.id === t.userId ? "mine" : "theirs", dataset: { id: m.id } },
      t.el("span", { class: "sender" }, m.sender.id === t.userId ? t.msg("you") : m.sender.full_name),
      t.el("span", { class: "time" }, t.time(m.created_at)),
      t.el("p", {}, m.body), attachmentView(m.attachment));
  }

  /* A new message is appended as one list item; the whole chat is redrawn only when it arrives
     out of order or replaces a message still shown as pending. */
  function addMessage(m) {
    if (messages.has(m.id)) return;
    const newest = [...messages.values()].every((old) => old.created_at <= m.created_at);
    messages.set(m.id, m);
    const list = $("messages");
    if (!newest || list.querySelector(".pending")) { renderMessages(); return; }
    list.append(messageItem(m));
    list.scrollTop = list.scrollHeight;
  }

  function renderMessages() {
    const sorted = [...messages.values()].sort((a, b) => a.created_at.localeCompare(b.created_at));
    if (t.role === "feldsher") t.seen.mark(id, sorted.filter((m) => m.sender && m.sender.role === "doctor").length);
    const items = sorted.map(messageItem);
    for (const p of pendingItems()) {
      const text = p.file ? `${p.filename} (${Math.ceil(p.file.size / 1024)} KB)` : p.body.body;
      items.push(t.el("li", { class: "mine pending", dataset: { key: p.file ? p.client_key : p.body.client_key } },
        t.el("span", { class: "sender" }, t.msg("you")), t.el("p", {}, text),
        t.el("span", { class: "time" }, t.msg("pending"))));
    }
    $("messages").replaceChildren(...items);
    $("messages").scrollTop = $("messages").scrollHeight;
  }
  document.addEventListener("telemed:outbox", renderMessages);
  document.addEventListener("telemed:sent", (e) => {
    const path = e.detail.item.path;
    if (path === `/consultations/${id}/messages` || path === `/consultations/${id}/attachments`) {
      messages.set(e.detail.result.id, e.detail.result);
      renderMessages();
    }
  });

  async function reload() {
    renderConsultation(await t.api("GET", `/consultations/${id}`));
    const page = await t.api("GET", `/consultations/${id}/messages`);
    messages.clear();
    for (const m of page.items) messages.set(m.id, m);
    renderMessages();
  }

  /* Read again whenever the live connection may have missed events. Doctors and post staff are
     sent a snapshot on every connect and also without one, when the server knows events were
     missed (a message-queue outage, a doctor's specialties changed); administrators get no
     snapshot on connect (only after an outage), so their page reads again on each connect. */
  const readAgain = () => reload().catch((err) => alert(t.describeError(err)));
  socket = t.connect({
    connect: () => { if (t.role === "admin") readAgain(); },
    "queue:snapshot": readAgain,
    "consultations:snapshot": readAgain,
    "consultation:update": (c) => { if (c.id === id) reload().catch(() => renderConsultation(c)); },
    "message:new": (m) => { if (m.consultation_id === id) addMessage(m); },
  });

  $("message-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const box = event.target.elements.body;
    const body = box.value.trim();
    if (!body) return;
    const clientKey = t.uuid4();
    const overHttp = async () => {
      // Over HTTP with the same key: kept in the outbox while the line is down, and answered with
      // the stored message if the socket attempt did arrive after all — never sent twice.
      const answer = await t.send({ method: "POST", path: `/consultations/${id}/messages`, body: { body, client_key: clientKey }, label: body });
      if (!answer.queued) messages.set(answer.id, answer);
    };
    try {
      if (socket.connected) {
        try {
          const answer = await t.emit(socket, "message:send", { consultation_id: id, body, client_key: clientKey });
          messages.set(answer.message.id, answer.message);
        } catch (err) {
          if (err.status !== 0) throw err; // a refusal, not a lost answer
          await overHttp();
        }
      } else {
        await overHttp();
      }
      // Emptied only if it still holds what was sent: the next message, typed while this one was
      // on its way (its message:new can come before its answer), is kept.
      if (box.value.trim() === body) box.value = "";
      renderMessages();
    } catch (err) { alert(t.describeError(err)); }
  });

  /* A phone camera's photo (3-5 MB, two minutes at 250 kbit/s) is made to fit the line before it
     is sent: at most 1600 px on its longest side (an ECG's grid stays readable), JPEG at 0.8,
     turned upright as the camera said. A PDF, or a picture already small, goes as it is. */
  const LONGEST_SIDE = 1600;
  async function fitForTheLine(file) {
    if (!/^image\/(jpeg|png)$/.test(file.type) || !window.createImageBitmap) return file;
    let bitmap;
    try { bitmap = await createImageBitmap(file, { imageOrientation: "from-image" }); } catch (e) { return file; }
    const scale = Math.min(1, LONGEST_SIDE / Math.max(bitmap.width, bitmap.height));
    if (scale === 1 && file.size <= 400 * 1024) return file;
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    const context = canvas.getContext("2d");
    context.fillStyle = "#fff";  // a PNG's transparency becomes paper, not black
    context.fillRect(0, 0, canvas.width, canvas.height);
    context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.8));
    if (!blob || blob.size >= file.size) return file;
    return new File([blob], file.name.replace(/\.[^.]*$/, "") + ".jpg", { type: "image/jpeg" });
  }

  /* Sent with its progress shown; with no line the fitted photo waits in the outbox. */
  $("attachment-form").elements.file.addEventListener("change", async (event) => {
    const chosen = event.target.files[0];
    const error = $("attachment-error");
    const progress = $("attachment-progress");
    error.hidden = true;
    if (!chosen) return;
    progress.value = 0;
    progress.hidden = false;
    try {
      const file = await fitForTheLine(chosen);
      const answer = await t.send({ path: `/consultations/${id}/attachments`, file, filename: file.name,
                                    client_key: t.uuid4(), label: file.name },
                                  (loaded, total) => { progress.max = total; progress.value = loaded; });
      if (!answer.queued) messages.set(answer.id, answer);
      renderMessages();
    } catch (err) { error.textContent = t.describeError(err); error.hidden = false; }
    progress.hidden = true;
    event.target.value = "";
  });

  async function handBack(path, body) {
    try { await t.api("POST", path, body); window.location.href = "/doctor"; }
    catch (err) { alert(t.describeError(err)); }
  }
  $("release").addEventListener("click", () => {
    const reason = prompt(t.msg("release_reason"));
    if (reason !== null) handBack(`/consultations/${id}/release`, { reason: reason || null });
  });
  $("transfer").addEventListener("click", () => {
    const reason = prompt(t.msg("transfer_reason"));
    if (reason) handBack(`/consultations/${id}/transfer`, { specialty: $("transfer-specialty").value, reason });
  });

  $("cancel-request").addEventListener("click", async () => {
    if (!confirm(t.msg("confirm_cancel"))) return;
    try { renderConsultation(await t.api("POST", `/consultations/${id}/cancel`, {})); await reload(); }
    catch (err) { alert(t.describeError(err)); }
  });

  /* ICD-10: search by code or words, pick one or more. The box is an ARIA combobox: the arrow keys
     move through the codes found, Enter chooses, Escape closes; "Searching…" while a search runs,
     and an answer to an older search than the latest is dropped, never shown. */
  const search = $("icd-search");
  const results = $("icd-results");
  const status = $("icd-status");
  let searchTimer = null;
  let latestSearch = 0;
  let activeOption = -1;
  function renderChosen() {
    $("icd-chosen").replaceChildren(...[...chosenCodes].map(([code, title]) => t.el("li", { dataset: { code } },
      `${code} ${title} `, t.el("button", { type: "button", class: "link", "aria-label": `${t.msg("remove")} ${code}`,
        onclick: () => { chosenCodes.delete(code); renderChosen(); } }, "×"))));
  }
  function options() { return [...results.querySelectorAll("[role=option]")]; }
  function closeResults() {
    results.replaceChildren();
    search.setAttribute("aria-expanded", "false");
    search.removeAttribute("aria-activedescendant");
    activeOption = -1;
  }
  function choose(code, title) {
    chosenCodes.set(code, title);
    search.value = "";
    status.textContent = "";
    closeResults();
    renderChosen();
    search.focus();
  }
  function activate(index) {
    const all = options();
    if (!all.length) return;
    activeOption = (index + all.length) % all.length;
    all.forEach((option, i) => option.setAttribute("aria-selected", String(i === activeOption)));
    search.setAttribute("aria-activedescendant", all[activeOption].id);
    all[activeOption].scrollIntoView({ block: "nearest" });
  }
  async function runSearch(q) {
    const mine = ++latestSearch;
    status.textContent = t.msg("searching");
    let page;
    try { page = await t.api("GET", `/icd10?q=${encodeURIComponent(q)}`); } catch (err) {
      if (mine === latestSearch) status.textContent = t.describeError(err);
      return;
    }
    if (mine !== latestSearch) return;  // the doctor typed on: an older answer is not shown
    closeResults();
    results.replaceChildren(...page.items.map((item) => t.el("li", {
      role: "option", id: `icd-option-${item.code}`, class: "suggestion", "aria-selected": "false",
      dataset: { code: item.code, title: item.title }, onclick: () => choose(item.code, item.title) }, `${item.code} — ${item.title}`)));
    search.setAttribute("aria-expanded", String(page.items.length > 0));
    status.textContent = page.items.length ? t.msg("codes_found").replace("{n}", page.items.length) : t.msg("no_matches");
  }
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    const q = search.value.trim();
    if (!q) { latestSearch += 1; closeResults(); status.textContent = ""; return; }
    searchTimer = setTimeout(() => runSearch(q), 200);
  });
  search.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      activate(activeOption + (event.key === "ArrowDown" ? 1 : -1));
    } else if (event.key === "Enter") {
      event.preventDefault();  // never sends the closing form from the search box
      const option = options()[activeOption];
      if (option) choose(option.dataset.code, option.dataset.title);
    } else if (event.key === "Escape") {
      closeResults();
    }
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
    } catch (err) { t.showErrors(event.target, error, err); }
  });
})();
