// kidvault portal: the little script it needs, served by kidvault itself.
// Pages work without it; it only refreshes a deletion's progress while it runs.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const live = document.querySelector("[data-refresh]");
  if (live) {
    const seconds = Number(live.getAttribute("data-refresh")) || 2;
    setTimeout(() => window.location.reload(), seconds * 1000);
  }
});
