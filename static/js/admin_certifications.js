/* Certification records: filter, add, correct the expiry, revoke. */
(function () {
  "use strict";
  const t = window.telemed;
  const filter = document.getElementById("filter-form");
  const add = document.getElementById("add-form");

  async function options() {
    const [types, facilities] = await Promise.all([t.api("GET", "/certification-types"), t.apiAll("/facilities")]);
    for (const select of [filter.elements.type, add.elements.type]) {
      for (const ty of types.items) select.append(t.el("option", { value: ty.code }, `${ty.code} — ${ty.name}`));
    }
    for (const f of facilities) filter.elements.facility_id.append(t.el("option", { value: f.id }, f.name));
  }

  async function show(offset, limit) {
    const params = new URLSearchParams({ limit, offset });
    for (const [key, value] of new FormData(filter)) if (value) params.set(key, value);
    const page = await t.api("GET", `/certifications?${params}`);
    document.getElementById("rows").replaceChildren(...page.items.map((c) => t.el("tr", { dataset: { id: c.id, status: c.status } },
      t.el("td", {}, c.user.full_name), t.el("td", {}, t.label("profession", c.user.profession)),
      t.el("td", {}, c.user.facility ? c.user.facility.name : ""), t.el("td", {}, c.type),
      t.el("td", {}, c.issued_on), t.el("td", {}, c.expires_on), t.el("td", {}, t.label("cert_status", c.status)),
      t.el("td", { class: "row-actions" },
        t.el("button", { type: "button", class: "link", onclick: () => correct(c) }, t.msg("correct_expiry")),
        c.revoked_at ? null : t.el("button", { type: "button", class: "link danger revoke", onclick: () => revoke(c) }, t.msg("revoke"))))));
    return page.total;
  }
  const pages = t.pager(document.getElementById("pager"), show);
  const load = () => pages.again();

  async function revoke(c) {
    const reason = prompt(t.msg("confirm_revoke"));
    if (reason === null) return;
    await t.changeAndReload("DELETE", `/certifications/${c.id}`, { reason: reason || null }, load);
  }

  async function correct(c) {
    const expires = prompt(t.msg("new_expiry"), c.expires_on);
    if (!expires || expires === c.expires_on) return;
    await t.changeAndReload("PATCH", `/certifications/${c.id}`, { expires_on: expires }, load);
  }

  t.handleAddForm(add, document.getElementById("add-error"), async (f) => {
    const username = f.username.value.trim().toLowerCase();
    const found = await t.api("GET", `/users?q=${encodeURIComponent(username)}`);
    const user = found.items.find((u) => u.username === username);
    if (!user) throw new t.ApiError(422, { code: "validation_error", message: t.msg("no_user") });
    await t.api("POST", "/certifications", { user_id: user.id, type: f.type.value, issued_on: f.issued_on.value,
      expires_on: f.expires_on.value || null, issuer: f.issuer.value || null, number: f.number.value || null });
  }, load);
  filter.addEventListener("submit", (event) => { event.preventDefault(); pages.first(); });
  t.connect({});
  options().then(() => pages.first()).catch((err) => alert(t.describeError(err)));
})();
