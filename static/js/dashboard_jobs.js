// Live progress of the dashboard's precompute jobs: polls each unfinished job's API every 3 s.
(function () {
  "use strict";
  const finished = new Set(["done", "failed", "cancelled"]);
  const rows = Array.from(document.querySelectorAll(".job-row[data-finished='0']"));
  async function poll(row) {
    try {
      const response = await fetch(row.dataset.api, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const job = await response.json();
        const bar = row.querySelector("progress");
        bar.max = Math.max(job.total, 1);
        bar.value = job.completed + job.failed;
        row.querySelector(".job-status").textContent =
          job.state + " · " + job.completed + "/" + job.total;
        if (finished.has(job.state)) { row.dataset.finished = "1"; return; }
      }
    } catch (error) { /* network hiccup: try again */ }
    window.setTimeout(function () { poll(row); }, 3000);
  }
  rows.forEach(function (row) { window.setTimeout(function () { poll(row); }, 3000); });
})();
