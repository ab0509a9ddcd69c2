(function () {
  const t = window.telemed;
  t.api("GET", "/me/certifications").then((page) => {
    document.getElementById("mine").replaceChildren(...page.items.map((h) => t.el("tr", { dataset: { code: h.code, status: h.status } },
      t.el("td", {}, `${h.code} — ${h.name}`), t.el("td", {}, t.label("cert_status", h.status)), t.el("td", {}, h.expires_on))));
  });
})();
