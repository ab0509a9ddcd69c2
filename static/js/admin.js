/* The administrator's overview of every consultation, updated live. */
(function () {
  "use strict";
  const t = window.telemed;
  const body = document.getElementById("consultations");
  const total = document.getElementById("total");
  const rows = new Map();
  let count = 0;

  function row(c) {
    return t.el("tr", { dataset: { id: c.id, status: c.status } },
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
  }

  async function load() {
    const page = await t.api("GET", "/consultations?limit=200");
    rows.clear();
    for (const c of page.items) rows.set(c.id, c);
    count = page.total;
    render();
  }

  t.connect({
    connect: () => load().catch(() => {}),
    "consultation:update": (c) => { if (!rows.has(c.id)) count += 1; rows.set(c.id, c); render(); },
  });
})();
