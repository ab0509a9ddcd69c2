(function () {
  const t = window.telemed;
  const form = document.getElementById("audit-form");
  async function load() {
    const params = new URLSearchParams({ limit: "200" });
    for (const [key, value] of new FormData(form)) if (value) params.set(key, value);
    document.getElementById("audit-export").href = `/api/v1/exports/audit.csv?${params}`;
    try {
      const page = await t.api("GET", `/audit?${params}`);
      document.getElementById("total").textContent = `${page.total}`;
      document.getElementById("rows").replaceChildren(...page.items.map((a) => t.el("tr", {},
        t.el("td", {}, t.dateTime(a.at)), t.el("td", {}, a.actor || "—"), t.el("td", {}, a.action),
        t.el("td", {}, a.object_type ? `${a.object_type} ${a.object_id || ""}` : ""), t.el("td", {}, a.ip || ""))));
    } catch (err) { alert(t.describeError(err)); }
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  t.connect({});
  load();
})();
