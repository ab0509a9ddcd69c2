/* Roster import: preview every row (nothing written), then import all of them or none. */
(function () {
  "use strict";
  const t = window.telemed;
  const form = document.getElementById("import-form");
  const importButton = document.getElementById("do-import");

  async function send(dryRun) {
    const data = new FormData();
    data.append("file", form.elements.file.files[0]);
    const response = await fetch(`/api/v1/certifications/import${dryRun ? "?dry_run=1" : ""}`,
      { method: "POST", body: data, credentials: "same-origin", headers: { "X-CSRFToken": t.csrfToken } });
    return { status: response.status, body: await response.json() };
  }

  /* Every row of the file: a good one with what it will do, a bad one as it was typed, each
     error under the cell it is about (the row's own errors, all of them, in the last column). */
  const COLUMNS = ["username", "type", "issued_on", "expires_on"];
  function show({ status, body }) {
    const rows = (body.preview || []).map((r) => ({ row: r.row, cells: r, fields: {}, note: r.action, bad: false }))
      .concat((body.errors || []).map((e) => ({ row: e.row, cells: e.cells || {}, fields: e.fields, note: "", bad: true })))
      .sort((a, b) => a.row - b.row);
    const cell = (r, column) => t.el("td", { class: r.fields[column] ? "gap" : null, "aria-invalid": r.fields[column] ? "true" : null },
      r.cells[column] || "", r.fields[column] ? t.el("div", { class: "cell-error" }, r.fields[column].join(" ")) : null);
    document.getElementById("import-rows").replaceChildren(...rows.map((r) => {
      const elsewhere = Object.entries(r.fields).filter(([f]) => !COLUMNS.includes(f)).map(([f, m]) => `${f}: ${m.join(" ")}`);
      return t.el("tr", { class: r.bad ? "escalated-row" : null, dataset: { row: r.row } },
        t.el("td", {}, String(r.row)), ...COLUMNS.map((column) => cell(r, column)),
        t.el("td", { class: r.bad ? "gap" : null }, r.bad ? elsewhere.join("; ") : r.note));
    }));
    const summary = body.error ? body.error.message
      : [`${body.rows}`, `${t.msg("to_create")} ${body.created}`, `${t.msg("unchanged")} ${body.unchanged}`,
         body.imported ? t.msg("imported") : null].filter(Boolean).join(" · ");
    document.getElementById("import-summary").textContent = summary;
    importButton.disabled = !(status === 200 && body.dry_run && body.created > 0);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try { show(await send(true)); } catch (err) { alert(t.describeError(err)); }
  });
  importButton.addEventListener("click", async () => {
    importButton.disabled = true;
    try { show(await send(false)); } catch (err) { alert(t.describeError(err)); }
  });
  t.connect({});
})();
