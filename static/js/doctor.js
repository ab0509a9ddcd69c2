/* The doctor's screen: the live queue they are eligible for, their active consultations. */
(function () {
  "use strict";
  const t = window.telemed;
  const queueList = document.getElementById("queue");
  const activeList = document.getElementById("active");
  const presence = document.getElementById("presence");
  const waiting = new Map();
  const active = new Map();
  const RANK = { emergency: 0, urgent: 1, routine: 2 };
  let socket;

  function waitedMinutes(c) {
    return Math.max(0, Math.floor((Date.now() - new Date(c.created_at).getTime()) / 60000));
  }

  function card(c, withClaim) {
    return t.el("li", { class: `consultation ${c.effective_priority}`, dataset: { id: c.id } },
      t.priorityBadge(c), " ", t.el("strong", {}, c.facility.name), " ",
      t.el("span", { class: "meta" }, `${t.label("specialty", c.specialty)} · ${t.time(c.created_at)} · ${waitedMinutes(c)} ${t.msg("minutes_waiting")}`),
      t.el("div", {}, t.summary(c)),
      withClaim
        ? t.el("button", { type: "button", class: "claim", onclick: () => claim(c.id) }, t.msg("claim"))
        : t.el("a", { href: `/consultations/${c.id}`, class: "button" }, t.msg("open")));
  }

  function render() {
    const queue = [...waiting.values()].sort((a, b) =>
      RANK[a.effective_priority] - RANK[b.effective_priority] || a.created_at.localeCompare(b.created_at));
    queueList.replaceChildren(...(queue.length ? queue.map((c) => card(c, true)) : [t.el("li", { class: "empty" }, t.msg("queue_empty"))]));
    const mine = [...active.values()];
    activeList.replaceChildren(...(mine.length ? mine.map((c) => card(c, false)) : [t.el("li", { class: "empty" }, t.msg("no_active"))]));
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
      waiting.clear(); active.clear();
      for (const c of snapshot.waiting) waiting.set(c.id, c);
      for (const c of snapshot.active) active.set(c.id, c);
      render();
    },
    "queue:upsert": (c) => { waiting.set(c.id, c); render(); },
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
  setInterval(render, 30000); // keep the waiting minutes current
  render();
})();
