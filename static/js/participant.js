/* Participant pages: response timing, idempotent submission with retries, keyboard shortcuts.
 *
 * A trial form is submitted as JSON to the participant API. Its idempotency key is generated
 * once per trial and kept in sessionStorage, so a double click, a retry after a network failure
 * or a reload before the answer arrived stores the answer once. The response time runs from the
 * moment every image of the trial has loaded (performance.now()) to the submission.
 * Until then the answers are disabled: a picture that fails is tried again (IMAGE_RETRIES, each
 * time with a fresh URL so that no cached failure is reused); if it still fails, the page says
 * so, offers to try again, and reports "trial.image_failed" to the server (the trial's index
 * only), and the trial cannot be answered with a picture missing.
 * The answer's reply carries the next trial's form (the HTML of the trial page's own form), which
 * takes the place of the one answered: one request per trial, no page load between trials. The
 * new trial gets the same image checks, timing and keys; its heading gets the focus, the title
 * and the progress bar follow, and a reload shows the trial the server says is current. Each
 * trial's form lists the pictures of the trial after it, fetched once its own have loaded.
 * Without JavaScript the same forms post to the page and work as well (without timing).
 * After a practice answer the server may show its feedback page: Enter there means Continue.
 */
(function () {
  "use strict";

  var RESERVED = { csrfmiddlewaretoken: 1, page: 1, trial: 1, idempotency_key: 1, rt_ms: 1 };
  var RETRIES = [500, 1000, 2000, 4000, 8000];
  var IMAGE_RETRIES = [1000, 3000];  // ms before each new try of a picture that failed
  var IMAGE_FAILED = "A picture of this question could not be loaded, so it cannot be answered " +
    "yet. Please check your internet connection and try again.";
  var loads = 0;  // every new try of a picture gets a URL of its own
  var current = null;  // the trial on the page now: its key handler
  var prefetched = [];  // the next trial's pictures, held until they are in the cache

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID().replace(/-/g, "");
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function storedKey(name) {
    try {
      var key = window.sessionStorage.getItem(name);
      if (!key) { key = newKey(); window.sessionStorage.setItem(name, key); }
      return key;
    } catch (e) { return null; }  // storage disabled: the server-rendered key is used
  }

  /* A loaded picture has pixels: a broken one is "complete" too, with no width. */
  function loaded(img) { return img.complete && img.naturalWidth > 0; }

  function reload(img) {
    if (!img.dataset.src) img.dataset.src = img.getAttribute("src");
    var url = img.dataset.src;
    loads += 1;
    img.src = url + (url.indexOf("?") < 0 ? "?" : "&") + "retry=" + loads;
  }

  /* Resolves true once ``img`` has loaded, false when it failed IMAGE_RETRIES.length more times. */
  function imageLoads(img) {
    return new Promise(function (resolve) {
      var tries = 0;
      var failed = null;  // the URL whose failure was handled: "complete" can be seen before
      function done(ok) {  // its error event arrives, and one failure must count once
        img.removeEventListener("load", onLoad);
        img.removeEventListener("error", onError);
        resolve(ok);
      }
      function onLoad() { done(true); }
      function onError() {
        if (failed === img.src) return;
        failed = img.src;
        if (tries >= IMAGE_RETRIES.length) { done(false); return; }
        setTimeout(function () { reload(img); }, IMAGE_RETRIES[tries]);
        tries += 1;
      }
      img.addEventListener("load", onLoad);
      img.addEventListener("error", onError);
      if (img.complete) { if (loaded(img)) onLoad(); else onError(); }  // settled before this ran
    });
  }

  function imagesLoad(images) {
    return Promise.all(images.map(imageLoads)).then(function (oks) {
      return oks.every(Boolean);
    });
  }

  function collect(form) {
    var value = {};
    new FormData(form).forEach(function (v, k) { if (!RESERVED[k]) value[k] = v; });
    return value;
  }

  function emptySelect(group) {
    var selects = group.querySelectorAll("select[required]");
    for (var i = 0; i < selects.length; i++) if (!selects[i].value) return selects[i];
    return null;
  }

  function missingAnswer(form) {
    var groups = form.querySelectorAll("[data-item]");
    for (var i = 0; i < groups.length; i++) {
      var radios = groups[i].querySelectorAll("input[type=radio][required]");
      if (radios.length && !groups[i].querySelector("input[type=radio]:checked")) return groups[i];
      if (emptySelect(groups[i])) return groups[i];
    }
    return null;
  }

  /* A ranking (preference, response_mode "ranking"): one select per place, best first, each
   * map used exactly once. Keys 1..k put that map in the first empty place; Backspace empties
   * the last filled one. The server checks the permutation again. */
  function ordinalOf(select) {
    var label = select.id && document.querySelector("label[for='" + select.id + "']");
    return label ? label.textContent : select.name;
  }

  function rankingProblem(group) {
    var selects = Array.prototype.slice.call(group.querySelectorAll("select"));
    var seen = {};
    for (var i = 0; i < selects.length; i++) {
      var v = selects[i].value;
      if (!v) continue;
      if (seen[v] !== undefined) {
        var option = selects[i].options[selects[i].selectedIndex];
        return { select: selects[i], message: "Please rank each explanation exactly once: " +
          (option ? option.textContent : v) + " is both " + ordinalOf(selects[seen[v]]) + " and " +
          ordinalOf(selects[i]) + "." };
      }
      seen[v] = i;
    }
    return null;
  }

  function showRanks(form, group) {
    var selects = Array.prototype.slice.call(group.querySelectorAll("select"));
    form.querySelectorAll("[data-rank-option]").forEach(function (figure) {
      var places = selects.filter(function (s) { return s.value === figure.dataset.rankOption; });
      var badge = figure.querySelector("[data-rank-badge]");
      if (badge) badge.textContent = places.map(ordinalOf).join(", ");
    });
  }

  function rankKey(form, group, key) {
    var selects = Array.prototype.slice.call(group.querySelectorAll("select"));
    if (key === "Backspace") {
      for (var j = selects.length - 1; j >= 0; j--) {
        if (selects[j].value) { selects[j].value = ""; selects[j].focus(); showRanks(form, group); return true; }
      }
      return false;
    }
    if (!/^[1-9]$/.test(key)) return false;
    var value = String(parseInt(key, 10) - 1);
    var exists = selects.length && Array.prototype.some.call(selects[0].options, function (o) { return o.value === value; });
    if (!exists) return false;
    if (selects.some(function (s) { return s.value === value; })) return true;  // already placed
    var empty = emptySelect(group);
    if (!empty) return true;
    empty.value = value;
    empty.focus();
    showRanks(form, group);
    return true;
  }

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  /* The pictures of the trial after this one, into the browser's cache (their URLs never
   * change, and the server lets them be kept), while the participant answers this one. */
  function prefetch(form) {
    var urls = (form.dataset.prefetch || "").split(" ").filter(Boolean);
    prefetched = urls.map(function (url) {
      var img = new Image();
      img.src = url;
      return img;
    });
  }

  /* The next trial in place of the one answered; false if the reply has no form to show. */
  function swapIn(old, next) {
    var box = document.createElement("div");
    box.innerHTML = next.html;
    var form = box.querySelector("form[data-trial]");
    if (!form || !old.parentNode) return false;
    old.parentNode.replaceChild(form, old);
    if (next.title) document.title = next.title;
    var bar = document.querySelector(".p-progress");
    if (bar && typeof next.progress === "number") {
      bar.value = next.progress;
      bar.textContent = next.progress + "%";
    }
    if (window.history && window.history.replaceState) {
      window.history.replaceState({ trial: next.index }, "", next.url || window.location.href);
    }
    window.scrollTo(0, 0);
    current = setupTrial(form);
    focusHeading(true);
    return true;
  }

  function setupTrial(form) {
    var error = form.querySelector("[data-error]");
    var button = form.querySelector("[data-submit]");
    var key = storedKey("studies:" + form.dataset.code + ":" + form.dataset.trial);
    if (key) form.elements.idempotency_key.value = key;
    var shownAt = null;
    var ready = false;
    var sending = false;
    var images = Array.prototype.slice.call(form.querySelectorAll("img"));
    var notice = null;

    function show(message) { error.textContent = message || ""; }

    function answerable(on) {
      form.querySelectorAll("fieldset").forEach(function (f) { f.disabled = !on; });
      button.disabled = !on;
    }

    function report() {  // best effort: the page works the same when the report is lost
      if (!form.dataset.events) return;
      fetch(form.dataset.events, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify({ kind: "trial.image_failed", trial: parseInt(form.dataset.trial, 10) })
      }).catch(function () { /* offline: nothing more to do */ });
    }

    function imageNotice() {
      if (notice) return notice;
      notice = document.createElement("div");
      notice.className = "image-failed";
      notice.setAttribute("role", "alert");
      notice.setAttribute("data-image-failed", "");
      var text = document.createElement("p");
      text.textContent = IMAGE_FAILED;
      var again = document.createElement("button");
      again.type = "button";
      again.textContent = "Try again";
      again.setAttribute("data-image-retry", "");
      again.addEventListener("click", function () {
        notice.hidden = true;
        var broken = images.filter(function (img) { return !loaded(img); });
        broken.forEach(reload);
        whenLoaded(broken);
      });
      notice.appendChild(text);
      notice.appendChild(again);
      form.insertBefore(notice, form.firstChild);
      return notice;
    }

    function whenLoaded(list) {
      imagesLoad(list).then(function (ok) {
        if (!images.every(loaded)) ok = false;
        if (ok) {
          if (notice) notice.hidden = true;
          ready = true;
          answerable(true);
          shownAt = performance.now();
          form.classList.add("ready");
          prefetch(form);
          return;
        }
        imageNotice().hidden = false;
        report();
      });
    }

    answerable(false);
    whenLoaded(images);

    async function send() {
      var body = JSON.stringify({
        trial: parseInt(form.dataset.trial, 10),
        value: collect(form),
        rt_ms: shownAt === null ? null : Math.round((performance.now() - shownAt) * 10) / 10,
        idempotency_key: form.elements.idempotency_key.value,
        next_trial: true
      });
      for (var attempt = 0; ; attempt++) {
        var reply = null;
        try {
          reply = await fetch(form.dataset.api, {
            method: "POST", body: body, credentials: "same-origin",
            headers: { "Content-Type": "application/json", "Accept": "application/json" }
          });
        } catch (e) { reply = null; }  // network failure: retry with the same key
        if (reply && reply.status < 500) {
          var data = {};
          try { data = await reply.json(); } catch (e) { data = {}; }
          if (reply.ok || reply.status === 409) {
            try { window.sessionStorage.removeItem("studies:" + form.dataset.code + ":" + form.dataset.trial); } catch (e) { /* ignore */ }
            if (reply.ok && data.next_trial && data.next_trial.html && swapIn(form, data.next_trial)) return;
            window.location.assign(data.next || window.location.href);
            return;
          }
          show((data.error && data.error.message) || "Please check your answer.");
          return;
        }
        if (attempt >= RETRIES.length) {
          show("We could not reach the server. Check your connection and press Continue again.");
          return;
        }
        show("Saving… (retrying)");
        await sleep(RETRIES[attempt]);
      }
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (sending || !ready) return;
      var missing = missingAnswer(form);
      if (missing) {
        show("Please answer every question.");
        (emptySelect(missing) || missing.querySelector("input")).focus();
        return;
      }
      var ranking = form.querySelector("[data-ranking]");
      var problem = ranking && rankingProblem(ranking);
      if (problem) { show(problem.message); problem.select.focus(); return; }
      sending = true;
      button.disabled = true;
      show("");
      send().finally(function () { sending = false; button.disabled = false; });
    });

    var rankingGroup = form.querySelector("[data-ranking]");
    if (rankingGroup) {
      rankingGroup.addEventListener("change", function () { showRanks(form, rankingGroup); show(""); });
      showRanks(form, rankingGroup);
    }

    function onKey(event) {
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      if (!ready) return;  // nothing to answer before every picture is there
      if (event.key === "Enter") {
        event.preventDefault();
        if (form.requestSubmit) form.requestSubmit(); else button.click();
        return;
      }
      var target = null;
      var ranked = form.querySelector("[data-ranking]");
      if (ranked && rankKey(form, ranked, event.key)) { event.preventDefault(); show(""); return; }
      var groups = form.querySelectorAll("[data-item]");
      var group = missingAnswer(form) || groups[groups.length - 1];
      if (!group) return;
      if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
        target = form.querySelector("input[data-arrow=" + event.key + "]");
      }
      if (!target) {
        // the first unanswered question takes the key; else any question that has it
        var selector = "input[data-key='" + (event.key.length === 1 ? event.key.toLowerCase() : "-") + "']";
        target = group.querySelector(selector) || form.querySelector(selector);
      }
      if (target) { event.preventDefault(); target.checked = true; target.focus(); show(""); }
    }

    return { onKey: onKey };
  }

  function setupPage(form) {
    // Pages other than trials: one submission only (a double click posts once).
    var sent = false;
    form.addEventListener("submit", function (event) {
      if (sent) { event.preventDefault(); return; }
      sent = true;
      setTimeout(function () {
        form.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
    // The feedback after a practice answer: Enter continues wherever the focus is.
    if (form.hasAttribute("data-enter-continues")) {
      document.addEventListener("keydown", function (event) {
        if (event.key !== "Enter" || event.altKey || event.ctrlKey || event.metaKey) return;
        event.preventDefault();
        if (sent) return;
        if (form.requestSubmit) form.requestSubmit(); else form.querySelector("button").click();
      });
    }
  }

  /* A new page puts the focus on its heading (a trial's question, a form's title), so that a
   * screen reader reads on from there and Tab goes on to the first answer; a page whose one
   * action has the focus already (autofocus) keeps it. The page does not scroll for it. */
  function focusHeading(moved) {
    if (!moved) {  // a trial put in place takes the focus wherever it was
      if (document.activeElement && document.activeElement !== document.body) return;
      if (document.querySelector("[autofocus]")) return;  // focused by the browser, maybe later
    }
    var heading = document.querySelector("main h1");
    if (!heading) return;
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }

  var trial = document.querySelector("form[data-trial]");
  if (trial) {
    current = setupTrial(trial);
    // one handler for every trial the page shows: the keys go to the one on the page now
    document.addEventListener("keydown", function (event) { if (current) current.onKey(event); });
  }
  document.querySelectorAll("form[data-page-form]").forEach(setupPage);
  focusHeading(false);
})();
