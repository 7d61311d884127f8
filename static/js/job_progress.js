// Live progress of a precompute job: polls the job's API every two seconds until it ends.
(function () {
  "use strict";
  const box = document.getElementById("job");
  if (!box || box.dataset.finished === "1") return;
  const finished = new Set(["done", "failed", "cancelled"]);
  async function poll() {
    try {
      const response = await fetch(box.dataset.api, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const job = await response.json();
        const bar = document.getElementById("job-progress");
        bar.max = Math.max(job.total, 1);
        bar.value = job.completed + job.failed;
        document.getElementById("job-state").textContent = job.state;
        document.getElementById("job-done").textContent = job.completed;
        document.getElementById("job-total").textContent = job.total;
        document.getElementById("job-failed").textContent = job.failed;
        if (finished.has(job.state)) { window.location.reload(); return; }
      }
    } catch (error) { /* network hiccup: try again */ }
    window.setTimeout(poll, 2000);
  }
  window.setTimeout(poll, 2000);
})();
