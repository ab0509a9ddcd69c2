/* Staff accounts: search, add, reset a password, deactivate or reactivate (never delete). */
(function () {
  "use strict";
  const t = window.telemed;
  const filter = document.getElementById("filter-form");
  const add = document.getElementById("add-form");

  async function show(offset, limit) {
    const params = new URLSearchParams({ limit, offset });
    for (const [key, value] of new FormData(filter)) if (value) params.set(key, value);
    const page = await t.api("GET", `/users?${params}`);
    document.getElementById("rows").replaceChildren(...page.items.map((u) => t.el("tr", { dataset: { id: u.id, active: String(u.active) } },
      t.el("td", {}, u.full_name), t.el("td", {}, u.username), t.el("td", {}, t.label("role", u.role)),
      t.el("td", {}, t.label("profession", u.profession)),
      t.el("td", {}, u.facility ? u.facility.name : ""), t.el("td", {}, u.specialties.map((s) => t.label("specialty", s)).join(", ")),
      t.el("td", { class: "row-actions" },
        u.active
          ? t.el("button", { type: "button", class: "link danger", onclick: () => deactivate(u) }, t.msg("deactivate"))
          : t.el("button", { type: "button", class: "link", onclick: () => change(u.id, { active: true }) }, t.msg("reactivate")),
        t.el("button", { type: "button", class: "link", onclick: () => resetPassword(u.id) }, t.msg("reset_password"))))));
    return page.total;
  }
  const pages = t.pager(document.getElementById("pager"), show);
  const load = () => pages.again();

  const change = (id, changes) => t.changeAndReload("PATCH", `/users/${id}`, changes, load);

  /* Destructive, so asked first: the person can no longer log in (nothing is deleted). */
  function deactivate(u) {
    if (confirm(t.msg("confirm_deactivate").replace("{name}", u.full_name))) change(u.id, { active: false });
  }

  function resetPassword(id) {
    const password = prompt(t.msg("new_password"));
    if (password) change(id, { password });
  }

  t.handleAddForm(add, document.getElementById("add-error"), (f) => t.api("POST", "/users", {
    username: f.username.value.trim().toLowerCase(), full_name: f.full_name.value, role: f.role.value,
    profession: f.profession.value, facility_id: f.facility_id.value ? Number(f.facility_id.value) : null,
    specialties: f.specialty.value ? [f.specialty.value] : [], password: f.password.value }), load);
  filter.addEventListener("submit", (event) => { event.preventDefault(); pages.first(); });
  t.apiAll("/facilities").then((facilities) => {
    for (const fac of facilities) add.elements.facility_id.append(t.el("option", { value: fac.id }, fac.name));
  });
  t.connect({});
  pages.first().catch((err) => alert(t.describeError(err)));
})();
