// Live monitor: re-reads the monitor page every few seconds and swaps in its live part.
// Skipped while the researcher is typing an exclusion reason, so no input is lost.
(function () {
  "use strict";
  const box = document.getElementById("monitor-live");
  if (!box || !window.fetch || !window.DOMParser) return;
  const seconds = parseInt(box.dataset.refreshSeconds || "15", 10);
  function busy() {
    const active = document.activeElement;
    if (active && box.contains(active) && active.tagName === "INPUT") return true;
    return Array.prototype.some.call(box.querySelectorAll("input[type=text]"), function (i) {
      return i.value !== "";
    });
  }
  async function refresh() {
    if (!busy() && !document.hidden) {
      try {
        const reply = await fetch(window.location.pathname, {
          credentials: "same-origin", headers: { Accept: "text/html" }
        });
        if (reply.ok) {
          const page = new DOMParser().parseFromString(await reply.text(), "text/html");
          const fresh = page.getElementById("monitor-live");
          if (fresh) box.innerHTML = fresh.innerHTML;
        }
      } catch (error) { /* network hiccup: try again next time */ }
    }
    window.setTimeout(refresh, seconds * 1000);
  }
  window.setTimeout(refresh, seconds * 1000);
})();
