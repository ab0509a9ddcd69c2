/* Consultation reports: speed by priority, staffing by hour of the week, volume, outcomes. */
(function () {
  "use strict";
  const t = window.telemed;
  const form = document.getElementById("range-form");
  const charts = {};
  const PRIORITY_ORDER = ["emergency", "urgent", "routine"];  // clinical order, not alphabetical
  const pct = (v) => (v === null || v === undefined ? "—" : `${Math.round(100 * v)} %`);
  // Minutes to a tenth, with the language's decimal sign: "1,5 мин".
  const mins = (s) => (s === null || s === undefined ? "—"
    : `${String(Math.round(s / 6) / 10).replace(".", t.decimalSymbol())} ${t.msg("minutes_short")}`);

  function chart(id, config) {
    if (charts[id]) charts[id].destroy();
    charts[id] = new Chart(document.getElementById(id), config);
  }

  function query() {
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value) params.set(key, value);
    return params.toString();
  }

  async function load() {
    const q = query();
    document.getElementById("csv-export").href = `/api/v1/exports/consultations.csv?${q}`;
    document.getElementById("fhir-export").href = `/api/v1/exports/fhir?${q}`;
    try {
      const [report, staffing] = await Promise.all([t.api("GET", `/reports/consultations?${q}`), t.api("GET", `/reports/staffing?${q}`)]);
      document.getElementById("period").textContent = t.msg("period")
        .replace("{from}", t.dateTime(report.from)).replace("{to}", t.dateTime(report.to)).replace("{total}", report.total);
      document.getElementById("speed").replaceChildren(...PRIORITY_ORDER.filter((p) => report.time_to_accept[p]).map((p) => {
        const s = report.time_to_accept[p];
        return t.el("tr", { dataset: { priority: p } }, t.el("td", {}, t.label("priority", p)), t.el("td", {}, String(s.accepted)),
          t.el("td", {}, mins(s.p50_s)), t.el("td", {}, mins(s.p90_s)),
          t.el("td", {}, t.msg("within_threshold").replace("{share}", pct(s.within_threshold)).replace("{time}", mins(s.threshold_s))));
      }));
      document.getElementById("facilities").replaceChildren(...report.per_facility.map((f) => t.el("tr", {},
        t.el("td", {}, f.name), t.el("td", {}, String(f.total)), t.el("td", {}, String(f.closed)),
        t.el("td", {}, pct(f.referral_rate)), t.el("td", {}, pct(f.ambulance_rate)))));
      chart("volume-chart", { type: "bar", data: { labels: report.per_day.map((d) => d.date),
        datasets: [{ label: t.msg("requests"), data: report.per_day.map((d) => d.count), backgroundColor: "#1f5fa8" }] },
        options: { maintainAspectRatio: false } });
      const outcomes = Object.entries(report.outcomes).filter(([, n]) => n);
      // Each outcome labelled with its number, not only a slice.
      chart("outcome-chart", { type: "doughnut", data: { labels: outcomes.map(([d, n]) => `${t.label("disposition", d)}: ${n}`),
        datasets: [{ data: outcomes.map(([, n]) => n) }] }, options: { maintainAspectRatio: false } });
      document.getElementById("staffing-summary").textContent = t.msg("staffing_summary")
        .replace("{n}", staffing.emergencies).replace("{time}", mins(staffing.mean_handling_s))
        .replace("{doctors}", staffing.doctors_on_duty_now);
      const rows = [];
      for (let hour = 0; hour < 24; hour += 1) {
        const cells = [0, 1, 2, 3, 4, 5, 6].map((day) => staffing.slots.find((s) => s.weekday === day && s.hour === hour));
        if (cells.every((c) => !c.doctors_needed)) continue;
        rows.push(t.el("tr", { dataset: { hour } }, t.el("td", {}, `${String(hour).padStart(2, "0")}:00`),
          ...cells.map((c) => t.el("td", { title: `${c.arrivals_per_hour}/h · ${c.traffic_erlangs} E` }, c.doctors_needed ? String(c.doctors_needed) : ""))));
      }
      document.querySelector("#staffing tbody").replaceChildren(...rows);
    } catch (err) { alert(t.describeError(err)); }
  }

  t.apiAll("/facilities").then((facilities) => {
    for (const f of facilities) form.elements.facility_id.append(t.el("option", { value: f.id }, f.name));
  });
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  t.connect({});
  load();
})();
