// kidvault portal: the little script it needs, served by kidvault itself.
// Pages work without it; it refreshes a deletion's progress while it runs, and
// tells kidvault the browser's time zone at sign-in (times are then shown in it).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  let zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (_) {
    zone = "";
  }
  document.querySelectorAll("input[data-detect-zone]").forEach((input) => {
    input.value = zone;
  });
  const choice = document.querySelector("select[data-detect-zone-select]");
  if (choice && zone && !choice.querySelector("option[selected]")) {
    choice.value = zone;
  }
  const live = document.querySelector("[data-refresh]");
  if (live) {
    const seconds = Number(live.getAttribute("data-refresh")) || 2;
    setTimeout(() => window.location.reload(), seconds * 1000);
  }
});
