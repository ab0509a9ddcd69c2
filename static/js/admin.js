/* The administrator's overview: the district's figures at the top, escalated requests, doctors on
   duty, and every consultation, paged and filtered; kept live. */
(function () {
  "use strict";
  const t = window.telemed;
  const body = document.getElementById("consultations");
  const filter = document.getElementById("consultation-filter");
  const escalatedList = document.getElementById("escalated");
  const onDutyList = document.getElementById("on-duty");
  const rows = new Map();     // the consultations of the page shown
  const waiting = new Map();  // every waiting request, for the overview and the escalated list
  const doctors = new Map();
  const PRESENCE_ORDER = { available: 0, away: 1, offline: 2 };
  let offset = 0;

  const figure = (name, text) => { document.querySelector(`[data-figure="${name}"]`).textContent = text; };
  /* A wait as a duration in words: "8 min", "2 h 5 min". */
  function duration(seconds) {
    const minutes = Math.max(0, Math.floor(seconds / 60));
    return minutes < 60 ? t.msg("duration_min").replace("{m}", minutes)
      : t.msg("duration_h_min").replace("{h}", Math.floor(minutes / 60)).replace("{m}", minutes % 60);
  }
  const waited = (c) => (Date.now() - new Date(c.created_at).getTime()) / 1000;

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

  function renderWaiting() {
    const all = [...waiting.values()].sort((a, b) => a.created_at.localeCompare(b.created_at));
    figure("waiting", String(all.length));
    figure("longest", all.length ? `${t.msg("longest_wait")}: ${duration(waited(all[0]))}` : "");
    const escalated = all.filter((c) => c.escalation_level > 0);
    escalatedList.replaceChildren(...(escalated.length ? escalated.map((c) => t.el("li", { class: "consultation", dataset: { id: c.id } },
      t.priorityBadge(c), " ", t.el("a", { href: `/consultations/${c.id}` }, `${c.facility.name} · ${t.label("specialty", c.specialty)}`),
      t.el("div", { class: "meta" }, `${t.msg("waiting_for")} ${duration(waited(c))} · ${t.summary(c)}`)))
      : [t.el("li", { class: "empty" }, t.msg("none_escalated"))]));
  }

  function renderDoctors() {
    const duty = [...doctors.values()].sort((a, b) => PRESENCE_ORDER[a.status] - PRESENCE_ORDER[b.status]
      || a.full_name.localeCompare(b.full_name));
    const count = (status) => duty.filter((d) => d.status === status).length;
    const available = duty.filter((d) => d.status === "available");
    figure("available", `${available.length} / ${duty.length}`);
    const bySpecialty = {};
    for (const d of available) for (const s of d.specialties) bySpecialty[s] = (bySpecialty[s] || 0) + 1;
    figure("by-specialty", Object.entries(bySpecialty).map(([s, n]) => `${t.label("specialty", s)} ${n}`).join(" · ")
      || t.msg("nobody_available"));
    document.getElementById("duty-counts").textContent = ["available", "away", "offline"]
      .map((s) => `${t.label("presence", s)}: ${count(s)}`).join(" · ");
    // Who can take a request now, then who is away; the offline are only counted.
    onDutyList.replaceChildren(...duty.filter((d) => d.status !== "offline").map((d) => t.el("li", { class: "consultation", dataset: { userId: d.user_id, status: d.status } },
      t.el("span", { class: `presence-${d.status}` }, "● "), `${d.full_name} `,
      t.el("span", { class: "meta" }, `${d.specialties.map((s) => t.label("specialty", s)).join(", ")} · ${t.label("presence", d.status)}`))));
  }

  async function show(to, limit) {
    offset = to;
    const params = new URLSearchParams({ limit, offset });
    for (const [key, value] of new FormData(filter)) if (value) params.set(key, value);
    const page = await t.api("GET", `/consultations?${params}`);
    rows.clear();
    for (const c of page.items) rows.set(c.id, c);
    body.replaceChildren(...page.items.map(row));
    return page.total;
  }
  const pages = t.pager(document.getElementById("pager"), show);

  async function loadOverview() {
    const since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
    const [queue, duty, day, coverage] = await Promise.all([
      t.apiAll("/consultations?status=waiting"), t.api("GET", "/presence"),
      t.api("GET", `/reports/consultations?from=${encodeURIComponent(since)}`), t.api("GET", "/reports/coverage")]);
    waiting.clear();
    for (const c of queue) waiting.set(c.id, c);
    doctors.clear();
    for (const d of duty.items) doctors.set(d.user_id, d);
    renderWaiting();
    renderDoctors();
    figure("day-total", String(day.total));
    const emergencies = day.time_to_accept.emergency;
    figure("emergencies", emergencies && emergencies.accepted
      ? t.msg("emergencies_in_time").replace("{n}", Math.round(emergencies.within_threshold * emergencies.accepted))
        .replace("{total}", emergencies.accepted).replace("{minutes}", Math.round(emergencies.threshold_s / 60))
      : t.msg("no_emergency_taken"));
    figure("bls-gaps", String(coverage.facilities.filter((f) => f.gap_types.includes("BLS")).length));
  }

  filter.addEventListener("submit", (event) => { event.preventDefault(); pages.first(); });
  t.apiAll("/facilities").then((facilities) => {
    for (const f of facilities) filter.elements.facility_id.append(t.el("option", { value: f.id }, f.name));
  });
  const readAgain = () => Promise.all([loadOverview(), pages.again()]).catch(() => {});
  t.connect({
    connect: readAgain,
    // Sent without a reconnect when the server knows this page missed events (a message-queue
    // outage): the figures, the escalated requests and the page shown are read again.
    "consultations:snapshot": readAgain,
    "consultation:update": (c) => {
      if (c.status === "waiting") waiting.set(c.id, c); else waiting.delete(c.id);
      renderWaiting();
      if (rows.has(c.id)) { rows.set(c.id, c); body.replaceChildren(...[...rows.values()].map(row)); }
      else if (offset === 0) pages.again().catch(() => {});  // a new one heads the first page
    },
    "presence:update": ({ user_id, status }) => {
      const d = doctors.get(user_id);
      if (d) { d.status = status; renderDoctors(); } else loadOverview().catch(() => {});
    },
  });
  // The waits grow while nobody acts: the durations are redrawn every half minute.
  setInterval(renderWaiting, 30000);
})();
