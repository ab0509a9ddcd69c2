/* Facilities: add, rename, deactivate or reactivate (never delete). */
(function () {
  "use strict";
  const t = window.telemed;
  const add = document.getElementById("add-form");

  async function show(offset, limit) {
    const page = await t.api("GET", `/facilities?limit=${limit}&offset=${offset}`);
    document.getElementById("rows").replaceChildren(...page.items.map((f) => t.el("tr", { dataset: { id: f.id } },
      t.el("td", {}, f.name), t.el("td", {}, t.label("facility_kind", f.kind)), t.el("td", {}, f.village), t.el("td", {}, f.active ? t.msg("yes") : t.msg("no")),
      t.el("td", { class: "row-actions" },
        t.el("button", { type: "button", class: "link", onclick: () => rename(f) }, t.msg("rename")),
        f.active
          ? t.el("button", { type: "button", class: "link danger", onclick: () => deactivate(f) }, t.msg("deactivate"))
          : t.el("button", { type: "button", class: "link", onclick: () => change(f.id, { active: true }) }, t.msg("reactivate"))))));
    return page.total;
  }
  const pages = t.pager(document.getElementById("pager"), show);
  const load = () => pages.again();
  const change = (id, changes) => t.changeAndReload("PATCH", `/facilities/${id}`, changes, load);

  /* Destructive, so asked first: its staff and requests stay, it takes no new ones. */
  function deactivate(f) {
    if (confirm(t.msg("confirm_deactivate_facility").replace("{name}", f.name))) change(f.id, { active: false });
  }

  function rename(f) {
    const name = prompt(t.msg("facility"), f.name);
    if (name && name !== f.name) change(f.id, { name });
  }
  t.handleAddForm(add, document.getElementById("add-error"), (f) => t.api("POST", "/facilities", {
    name: f.name.value, kind: f.kind.value, village: f.village.value, district_id: Number(f.district_id.value) }), load);
  t.api("GET", "/districts").then((page) => {
    for (const d of page.items) add.elements.district_id.append(t.el("option", { value: d.id }, `${d.name} (${d.region})`));
  });
  t.connect({});
  pages.first().catch((err) => alert(t.describeError(err)));
})();
