/* The coverage dashboard: gaps first, who lapses next, coverage by profession and facility. */
(function () {
  "use strict";
  const t = window.telemed;
  const form = document.getElementById("coverage-form");
  const charts = {};
  const PALETTE = ["#1f5fa8", "#9a5b00", "#2f6f3e", "#7b3fa0", "#b3261e", "#4b5563"];

  function chart(id, config) {
    if (charts[id]) charts[id].destroy();
    charts[id] = new Chart(document.getElementById(id), config);
  }

  function render(report, lapsing) {
    const required = report.types.filter((ty) => ty.required_for.length || ty.valid > 0);
    document.getElementById("coverage-summary").textContent =
      `${report.staff.total} ${t.msg("staff")} · ` + required.map((ty) => `${ty.code}: ${ty.valid}`).join(" · ");
    const gaps = report.facilities.filter((f) => f.gaps.length);
    document.getElementById("gaps").replaceChildren(...(gaps.length ? gaps.map((f) =>
      t.el("li", { class: "consultation", dataset: { facilityId: f.id } },
        t.el("strong", {}, f.name), ` (${t.msg("staff_count").replace("{n}", f.staff)}) `, t.el("span", { class: "gap" }, f.gaps.join(", "))))
      : [t.el("li", { class: "empty" }, "—")]));
    const counts = report.lapsing;
    document.getElementById("lapse-counts").textContent = ["30", "60", "90"].map((d) =>
      `${d} ${t.msg("days")}: ${Object.values(counts[d] || {}).reduce((a, b) => a + b, 0)}`).join(" · ");
    // Everyone counted above is listed (the counts and the list are the same people).
    document.getElementById("lapsing").replaceChildren(...lapsing.items.map((item) =>
      t.el("tr", {}, t.el("td", {}, item.full_name), t.el("td", {}, item.facility.name || ""),
        t.el("td", {}, item.type), t.el("td", {}, `${item.expires_on} (${item.days_left})`))));

    const professions = Object.keys(report.staff.by_profession);
    chart("profession-chart", {
      type: "bar",
      data: { labels: professions, datasets: required.map((ty, i) => ({
        label: ty.code, backgroundColor: PALETTE[i % PALETTE.length],
        data: professions.map((p) => Math.round(100 * ty.by_profession[p].coverage)) })) },
      options: { maintainAspectRatio: false, scales: { y: { min: 0, max: 100, title: { display: true, text: "%" } } } },
    });
    const points = [{ label: report.as_of, types: Object.fromEntries(required.map((ty) => [ty.code, ty.valid])) }]
      .concat(report.forecast.map((f) => ({ label: `+${f.months} ${t.msg("months_short")}`,
        types: Object.fromEntries(Object.entries(f.types).map(([code, v]) => [code, v.valid])) })));
    chart("forecast-chart", {
      type: "line",
      data: { labels: points.map((p) => p.label), datasets: required.map((ty, i) => ({
        label: ty.code, borderColor: PALETTE[i % PALETTE.length], backgroundColor: PALETTE[i % PALETTE.length],
        data: points.map((p) => p.types[ty.code] || 0) })) },
      options: { maintainAspectRatio: false, scales: { y: { min: 0 } } },
    });

    document.getElementById("heat-head").replaceChildren(t.el("tr", {}, t.el("th", {}, t.msg("facility")),
      t.el("th", {}, t.msg("staff")), ...required.map((ty) => t.el("th", {}, ty.code))));
    document.getElementById("heat-body").replaceChildren(...report.facilities.map((f) =>
      t.el("tr", { dataset: { facilityId: f.id } }, t.el("td", {}, f.name), t.el("td", {}, String(f.staff)),
        ...required.map((ty) => {
          // How many of the facility's staff hold it, written out; coloured only where it is required.
          const cell = f.types[ty.code];
          const level = !cell.required ? "optional" : cell.valid === 0 ? "none" : cell.valid < f.staff ? "some" : "all";
          return t.el("td", { class: `cell ${level}`, dataset: { level } },
            `${cell.valid}/${f.staff}`, cell.required ? "" : ` (${t.msg("optional")})`);
        }))));
  }

  async function load() {
    const asOf = form.elements.as_of.value;
    document.getElementById("training-export").href = `/api/v1/exports/training.csv?as_of=${asOf}`;
    try {
      const [report, lapsing] = await Promise.all([
        t.api("GET", `/reports/coverage?as_of=${asOf}`),
        t.api("GET", `/reports/lapsing?as_of=${asOf}&days=90`)]);
      render(report, lapsing);
    } catch (err) { alert(t.describeError(err)); }
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  t.connect({});
  load();
})();
