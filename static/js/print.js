/* The printable summary: its Print button (no inline script, so the CSP can forbid them). */
document.getElementById("print-now").addEventListener("click", () => window.print());
