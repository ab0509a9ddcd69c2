/* The doctor's screen: the live queue they are eligible for, their active consultations. */
(function () {
  "use strict";
  const t = window.telemed;
  const queueList = document.getElementById("queue");
  const activeList = document.getElementById("active");
  const presence = document.getElementById("presence");
  const thresholds = JSON.parse(document.getElementById("doctor-board").dataset.thresholds);
  const baseTitle = document.title;
  const waiting = new Map();
  const active = new Map();
  const RANK = { emergency: 0, urgent: 1, routine: 2 };
  let unseen = 0;
  let snapshotted = false;
  let audio = null;
  let socket;

  function waitedSeconds(c) {
    return Math.max(0, (Date.now() - new Date(c.queued_at || c.created_at).getTime()) / 1000);
  }

  function card(c, withClaim) {
    const waited = waitedSeconds(c);
    const overdue = withClaim && waited >= thresholds[c.effective_priority];
    const triage = t.triageNote(c);
    return t.el("li", { class: `consultation ${c.effective_priority}${overdue ? " overdue" : ""}`,
                        dataset: { id: c.id, overdue: overdue ? "yes" : "no" } },
      t.priorityBadge(c), " ", t.el("strong", {}, c.facility.name), " ",
      t.el("span", { class: "meta" }, `${t.label("specialty", c.specialty)} · ${t.time(c.created_at)} · `,
        t.el("span", { class: "waited" }, `${Math.floor(waited / 60)} ${t.msg("minutes_waiting")}`),
        t.el("span", { class: "overdue-note", hidden: !overdue }, ` · ${t.msg("overdue")}`)),
      t.el("div", {}, t.summary(c)),
      triage ? t.el("div", { class: "triage" }, triage) : null,
      withClaim
        ? t.el("button", { type: "button", class: "claim", onclick: () => claim(c.id) }, t.msg("claim"))
        : t.el("a", { href: `/consultations/${c.id}`, class: "button" }, t.msg("open")));
  }

  /* Redraw a list and give the keyboard focus back to the same control of the same card (a doctor
     working the queue by keyboard must not be thrown to the top of the page by an update). */
  function redraw(list, items) {
    const focused = list.contains(document.activeElement) ? document.activeElement : null;
    const card = focused && focused.closest("li[data-id]");
    list.replaceChildren(...items);
    if (!card) return;
    const again = list.querySelector(`li[data-id="${card.dataset.id}"] ${focused.tagName.toLowerCase()}`);
    (again || list).focus({ preventScroll: true });  // the card went (taken): focus stays in the list
  }

  function render() {
    const queue = [...waiting.values()].sort((a, b) =>
      RANK[a.effective_priority] - RANK[b.effective_priority] || a.created_at.localeCompare(b.created_at));
    redraw(queueList, queue.length ? queue.map((c) => card(c, true)) : [t.el("li", { class: "empty" }, t.msg("queue_empty"))]);
    const mine = [...active.values()];
    redraw(activeList, mine.length ? mine.map((c) => card(c, false)) : [t.el("li", { class: "empty" }, t.msg("no_active"))]);
    document.title = unseen ? `(${unseen}) ${baseTitle}` : baseTitle;
  }

  /* The waits grow: their minutes and the overdue mark are updated in place, nothing redrawn. */
  function tick() {
    for (const item of queueList.querySelectorAll("li[data-id]")) {
      const c = waiting.get(item.dataset.id);
      if (!c) continue;
      const waited = waitedSeconds(c);
      item.querySelector(".waited").textContent = `${Math.floor(waited / 60)} ${t.msg("minutes_waiting")}`;
      const overdue = waited >= thresholds[c.effective_priority];
      item.classList.toggle("overdue", overdue);
      item.querySelector(".overdue-note").hidden = !overdue;
      item.dataset.overdue = overdue ? "yes" : "no";
    }
  }

  /* A new offer rings only while this doctor is available: a tone, a notification, a title badge. */
  function ring(c) {
    if (presence.value !== "available") return;
    unseen += 1;
    try {
      audio = audio || new AudioContext();
      const tone = audio.createOscillator();
      tone.frequency.value = c.effective_priority === "emergency" ? 880 : 660;
      tone.connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.4);
    } catch (e) { /* no sound before the page was touched: the badge and notification remain */ }
    if (window.Notification && Notification.permission === "granted" && document.hidden) {
      new Notification(`${t.label("priority", c.effective_priority)} · ${c.facility.name}`, { body: t.summary(c), tag: c.id });
    }
  }

  async function claim(id) {
    try {
      const answer = await t.emit(socket, "consultation:accept", { id });
      window.location.href = `/consultations/${answer.consultation.id}`;
    } catch (err) {
      waiting.delete(id);
      render();
      alert(err.code === "conflict" ? t.msg("taken") : t.describeError(err));
    }
  }

  socket = t.connect({
    "queue:snapshot": (snapshot) => {
      // After the first, a snapshot can bring requests this page never showed: created while the
      // line was down, or newly offered (a specialty or certificate given, the message queue back).
      // Each rings as a new offer would; the first, on opening the page, rings for none.
      const fresh = snapshotted ? snapshot.waiting.filter((c) => !waiting.has(c.id)) : [];
      snapshotted = true;
      waiting.clear(); active.clear();
      for (const c of snapshot.waiting) waiting.set(c.id, c);
      for (const c of snapshot.active) active.set(c.id, c);
      if (snapshot.presence) presence.value = snapshot.presence;
      for (const c of fresh) ring(c);  // after the status: an away doctor is not rung
      render();
    },
    "queue:upsert": (c) => {
      const isNew = !waiting.has(c.id) || (waiting.get(c.id).escalation_level < c.escalation_level);
      waiting.set(c.id, c);
      if (isNew) ring(c);
      render();
    },
    "queue:remove": ({ id }) => { waiting.delete(id); render(); },
    "consultation:update": (c) => {
      if (c.status === "active" && c.doctor && c.doctor.id === t.userId) active.set(c.id, c);
      else active.delete(c.id);
      if (c.status !== "waiting") waiting.delete(c.id);
      render();
    },
  });

  presence.addEventListener("change", () => {
    t.emit(socket, "presence:set", { status: presence.value }).catch((err) => alert(t.describeError(err)));
  });
  /* Sound needs a first touch of the page; notifications need the browser's leave. Either way
     the doctor is told what now works. */
  const alertsButton = document.getElementById("enable-alerts");
  const alertsState = document.getElementById("alerts-state");
  alertsButton.addEventListener("click", async () => {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") await audio.resume().catch(() => {});
    let notifications = window.Notification ? Notification.permission : "denied";
    if (notifications === "default") notifications = await Notification.requestPermission().catch(() => "denied");
    alertsButton.setAttribute("aria-pressed", "true");
    alertsState.textContent = [audio.state === "running" ? t.msg("sound_on") : t.msg("sound_off"),
      notifications === "granted" ? t.msg("notifications_on") : t.msg("notifications_off")].join(" · ");
  });
  const seen = () => { if (!document.hidden) { unseen = 0; render(); } };
  document.addEventListener("visibilitychange", seen);
  window.addEventListener("focus", seen);
  setInterval(tick, 15000); // keep the waiting minutes and colours current
  render();
})();
