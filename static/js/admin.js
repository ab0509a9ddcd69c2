/* The administrator's overview of every consultation, updated live. */
(function () {
  "use strict";
  const t = window.telemed;
  const body = document.getElementById("consultations");
  const total = document.getElementById("total");
  const escalatedList = document.getElementById("escalated");
  const onDutyList = document.getElementById("on-duty");
  const rows = new Map();
  const doctors = new Map();
  let count = 0;

  function row(c) {
    const escalated = c.status === "waiting" && c.escalation_level > 0;
    return t.el("tr", { class: escalated ? "escalated-row" : null, dataset: { id: c.id, status: c.status } },
      t.el("td", {}, t.dateTime(c.created_at)),
      t.el("td", {}, c.facility.name),
      t.el("td", {}, t.priorityBadge(c)),
      t.el("td", {}, t.label("specialty", c.specialty)),
      t.el("td", {}, t.el("a", { href: `/consultations/${c.id}` }, t.label("status", c.status))),
      t.el("td", {}, c.doctor ? c.doctor.full_name : ""),
      t.el("td", {}, c.outcome ? `${t.label("disposition", c.outcome.disposition)} (${c.outcome.icd10.join(", ")})` : ""));
  }

  function render() {
    const sorted = [...rows.values()].sort((a, b) => b.created_at.localeCompare(a.created_at));
    body.replaceChildren(...sorted.map(row));
    total.textContent = `${count}`;
    const escalated = sorted.filter((c) => c.status === "waiting" && c.escalation_level > 0);
    escalatedList.replaceChildren(...(escalated.length ? escalated.map((c) => t.el("li", { class: "consultation", dataset: { id: c.id } },
      t.priorityBadge(c), " ", t.el("a", { href: `/consultations/${c.id}` }, `${c.facility.name} · ${t.label("specialty", c.specialty)}`),
      t.el("div", { class: "meta" }, `${t.dateTime(c.created_at)} · ${t.summary(c)}`))) : [t.el("li", { class: "empty" }, "—")]));
    const duty = [...doctors.values()];
    onDutyList.replaceChildren(...duty.map((d) => t.el("li", { class: "consultation", dataset: { userId: d.user_id, status: d.status } },
      t.el("span", { class: `presence-${d.status}` }, "● "), `${d.full_name} `,
      t.el("span", { class: "meta" }, `${d.specialties.map((s) => t.label("specialty", s)).join(", ")} · ${t.label("presence", d.status)}`))));
  }

  async function load() {
    const page = await t.api("GET", "/consultations?limit=200");
    rows.clear();
    for (const c of page.items) rows.set(c.id, c);
    count = page.total;
    const duty = await t.api("GET", "/presence");
    doctors.clear();
    for (const d of duty.items) doctors.set(d.user_id, d);
    render();
  }

  t.connect({
    connect: () => load().catch(() => {}),
    "consultation:update": (c) => { if (!rows.has(c.id)) count += 1; rows.set(c.id, c); render(); },
    "presence:update": ({ user_id, status }) => {
      const d = doctors.get(user_id);
      if (d) { d.status = status; render(); } else load().catch(() => {});
    },
  });
})();
