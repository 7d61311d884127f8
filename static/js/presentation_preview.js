// The study designer's live preview of a presentation: one image per method, drawn by the server
// under the settings chosen in the form (the same code that renders the participants' stimuli).
(function () {
  "use strict";
  var box = document.getElementById("presentation-preview");
  if (!box) return;
  var form = box.closest("form");
  var grid = box.querySelector(".preview-grid");
  var note = box.querySelector(".preview-note");
  var sampleUrl = box.getAttribute("data-sample-url");
  var maps = [];

  function field(name) { return form.querySelector('[name="' + name + '"]'); }

  function query() {
    var preset = field("presentation").value;
    if (preset !== "custom") return "preset=" + encodeURIComponent(preset);
    var parts = [];
    form.querySelectorAll("[data-presentation]").forEach(function (input) {
      parts.push(encodeURIComponent(input.getAttribute("data-presentation")) + "=" +
                 encodeURIComponent(input.value));
    });
    return parts.join("&");
  }

  function draw() {
    var q = query();
    grid.querySelectorAll("img").forEach(function (img) {
      img.src = img.getAttribute("data-base") + "?" + q;
    });
    var custom = field("presentation").value === "custom";
    form.querySelectorAll(".presentation-custom").forEach(function (el) { el.hidden = !custom; });
  }

  function load() {
    var classifier = field("classifier").value, imageSet = field("image_set").value;
    var methods = field("methods").value;
    if (!classifier || !imageSet || !methods.trim()) {
      note.textContent = "Choose a classifier, an image set and methods to see a preview.";
      grid.textContent = "";
      return;
    }
    var url = sampleUrl + "?classifier=" + encodeURIComponent(classifier) + "&image_set=" +
      encodeURIComponent(imageSet) + "&methods=" + encodeURIComponent(methods);
    fetch(url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (data) {
      maps = data.maps || [];
      grid.textContent = "";
      maps.forEach(function (m) {
        var figure = document.createElement("figure");
        var img = document.createElement("img");
        img.setAttribute("data-base", m.url);
        img.alt = m.method + " map, drawn under the chosen presentation";
        img.width = 160; img.height = 160;
        var caption = document.createElement("figcaption");
        caption.textContent = m.method;
        figure.appendChild(img); figure.appendChild(caption); grid.appendChild(figure);
      });
      var missing = (data.missing || []);
      note.textContent = maps.length ? (missing.length ? "Not precomputed yet: " + missing.join(", ") + "." : "")
        : "No precomputed maps of these methods for this classifier and image set yet.";
      draw();
    });
  }

  form.addEventListener("change", function (event) {
    var name = event.target.name || "";
    if (name === "classifier" || name === "image_set" || name === "methods") load(); else draw();
  });
  load();
})();
