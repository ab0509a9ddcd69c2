/* The audit trail: who read or changed what, filtered and paged; the same filters export as CSV. */
(function () {
  "use strict";
  const t = window.telemed;
  const form = document.getElementById("audit-form");

  function filters() {
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value) params.set(key, value);
    return params;
  }
  /* What the entry records besides who, what and when: the refused path and why, the fields a
     change touched, a login's outcome... as "key: value" pairs. */
  function detail(entry) {
    return Object.entries(entry.detail || {}).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join("; ");
  }
  async function show(offset, limit) {
    const params = filters();
    document.getElementById("audit-export").href = `/api/v1/exports/audit.csv?${params}`;
    params.set("limit", limit);
    params.set("offset", offset);
    const page = await t.api("GET", `/audit?${params}`);
    document.getElementById("rows").replaceChildren(...page.items.map((a) => t.el("tr", { dataset: { action: a.action } },
      t.el("td", {}, t.dateTime(a.at)), t.el("td", {}, a.actor || "—"), t.el("td", {}, a.action),
      t.el("td", {}, a.object_type ? `${a.object_type} ${a.object_id || ""}` : ""), t.el("td", {}, a.ip || ""),
      t.el("td", { class: "detail" }, detail(a)))));
    return page.total;
  }
  const pages = t.pager(document.getElementById("pager"), show);
  form.addEventListener("submit", (event) => { event.preventDefault(); pages.first().catch((err) => alert(t.describeError(err))); });
  t.connect({});
  pages.first().catch((err) => alert(t.describeError(err)));
})();
