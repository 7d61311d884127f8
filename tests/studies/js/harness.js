/* Runs static/js/participant.js against a tiny fake DOM and prints what it did as JSON.
 * Usage: node harness.js SCRIPT SCENARIO   (scenarios below; used by test_participant_js.py) */
"use strict";
const fs = require("fs");
const vm = require("vm");

const [script, scenario] = process.argv.slice(2);
const source = fs.readFileSync(script, "utf8");
const out = { fetches: [], navigations: [], errors: [], log: [] };

function input(name, value, key, arrow) {
  return { name, value: String(value), checked: false, type: "radio", dataset: { key, arrow },
           focus() {} };
}

/* An <img> as the script finds it (the browser's own load over, its error event perhaps still
 * to come): its first ``fails`` tries fail (that load, then one per new src), then it loads. */
function fakeImage(fails) {
  const listeners = { load: [], error: [] };
  const img = {
    complete: true, naturalWidth: fails === 0 ? 8 : 0, dataset: {}, srcs: [],
    getAttribute: (name) => (name === "src" ? "/s/CODE/img/tok" : null),
    addEventListener(type, fn) { listeners[type].push(fn); },
    removeEventListener(type, fn) { listeners[type] = listeners[type].filter((f) => f !== fn); },
    get src() { return img.srcs.length ? img.srcs[img.srcs.length - 1] : "/s/CODE/img/tok"; },
    set src(url) {
      img.srcs.push(url);
      out.log.push("src " + url);
      img.complete = false;
      Promise.resolve().then(() => {
        const ok = img.srcs.length + 1 > fails;
        img.complete = true;
        img.naturalWidth = ok ? 8 : 0;
        listeners[ok ? "load" : "error"].slice().forEach((fn) => fn());
      });
    },
  };
  // As in Chromium: a failed load is "complete" before its error event arrives.
  if (fails > 0) Promise.resolve().then(() => listeners.error.slice().forEach((fn) => fn()));
  return img;
}

function fakeElement(tag) {
  const el = { tag, hidden: false, textContent: "", attributes: {}, children: [], listeners: {},
    setAttribute(k, v) { el.attributes[k] = v; },
    appendChild(child) { el.children.push(child); },
    addEventListener(type, fn) { el.listeners[type] = fn; },
    click() { el.listeners.click(); } };
  return el;
}

function makeForm(kind) {
  const groups = kind === "likert"
    ? [{ inputs: [1, 2, 3, 4, 5].map((v) => input("justification", v, String(v))) }]
    : [{ inputs: [input("choice", 0, "1", "ArrowLeft"), input("choice", 1, "2", "ArrowRight")] }];
  const all = () => groups.flatMap((g) => g.inputs);
  const groupApi = (g) => ({
    querySelectorAll(sel) { return sel.startsWith("input[type=radio]") ? g.inputs : []; },
    querySelector(sel) {
      if (sel === "input[type=radio]:checked") return g.inputs.find((i) => i.checked) || null;
      if (sel === "input") return g.inputs[0];
      const m = sel.match(/data-key='(.*)'/);
      return m ? g.inputs.find((i) => i.dataset.key === m[1]) || null : null;
    },
  });
  const errorEl = { textContent: "" };
  const button = { disabled: false, click() { form.requestSubmit(); } };
  const listeners = {};
  const form = {
    dataset: { code: "CODE", trial: "3", api: "/api/participants/CODE/responses/",
               events: "/api/participants/CODE/events/" },
    elements: { idempotency_key: { value: "server-key-0000" } },
    classList: { add() {} },
    images: [fakeImage(0)],
    fieldsets: [{ disabled: false }],
    inserted: [],
    insertBefore(el) { this.inserted.push(el); },
    addEventListener(type, fn) { listeners[type] = fn; },
    requestSubmit() { listeners.submit({ preventDefault() {} }); },
    querySelector(sel) {
      if (sel === "[data-error]") return errorEl;
      if (sel === "[data-submit]") return button;
      const arrow = sel.match(/data-arrow=(\w+)/);
      if (arrow) return all().find((i) => i.dataset.arrow === arrow[1]) || null;
      const key = sel.match(/data-key='(.*)'/);
      if (key) return all().find((i) => i.dataset.key === key[1]) || null;
      return null;
    },
    querySelectorAll(sel) {
      if (sel === "img") return this.images;
      if (sel === "fieldset") return this.fieldsets;
      if (sel === "[data-item]") return groups.map(groupApi);
      return [];
    },
    _fields() {
      const fields = [["csrfmiddlewaretoken", "x"], ["page", "trials"], ["trial", "3"],
                      ["idempotency_key", this.elements.idempotency_key.value], ["rt_ms", ""]];
      for (const i of all()) if (i.checked) fields.push([i.name, i.value]);
      return fields;
    },
    errorEl, button,
  };
  return form;
}

function run(storage, replies, kind, images) {
  const form = makeForm(kind);
  if (images) form.images = images;
  const docListeners = {};
  let clock = 1000;
  const pending = [];
  const window = {
    crypto: { randomUUID: () => "uuid-" + Math.random().toString(16).slice(2, 10) + "-x" },
    sessionStorage: {
      getItem: (k) => (k in storage ? storage[k] : null),
      setItem: (k, v) => { storage[k] = v; },
      removeItem: (k) => { delete storage[k]; },
    },
    location: { href: "/s/CODE/", assign: (u) => out.navigations.push(u) },
  };
  const sandbox = {
    window, console, Promise, JSON, Math, parseInt, Array, Uint8Array,
    performance: { now: () => clock },
    setTimeout: (fn, ms) => {
      (out.timeouts = out.timeouts || []).push(ms);
      out.log.push("wait " + ms);
      pending.push(fn);
      Promise.resolve().then(() => pending.shift()());
    },
    FormData: function (f) { this.forEach = (cb) => f._fields().forEach(([k, v]) => cb(v, k)); },
    fetch: (url, options) => {
      out.fetches.push({ url, body: JSON.parse(options.body) });
      const reply = replies.shift();
      if (reply === "network") return Promise.reject(new Error("offline"));
      return Promise.resolve({ status: reply.status, ok: reply.status < 300,
                               json: () => Promise.resolve(reply.body || {}) });
    },
    document: {
      querySelector: (sel) => (sel === "form[data-trial]" ? form : null),
      querySelectorAll: () => [],
      createElement: fakeElement,
      addEventListener: (type, fn) => { docListeners[type] = fn; },
    },
  };
  vm.runInNewContext(source, sandbox);
  return { form, key: (k) => docListeners.keydown({ key: k, preventDefault() {} }),
           tick: (ms) => { clock += ms; } };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

async function main() {
  const storage = {};
  if (scenario === "retry") {
    const page = run(storage, ["network", { status: 503 }, { status: 201, body: { next: "/s/CODE/" } }],
                     "likert");
    await settle();
    page.form.requestSubmit();  // nothing chosen yet
    out.errors.push(page.form.errorEl.textContent);
    page.tick(1500);
    page.key("4");
    page.key("Enter");
    page.form.requestSubmit();  // a double click while sending
    await settle(); await settle();
    out.storedAfter = Object.keys(storage).length;
  } else if (scenario === "reload") {
    run(storage, [], "likert");
    const first = storage["studies:CODE:3"];
    const again = run(storage, [{ status: 201, body: { next: "/n" } }], "likert");
    await settle();
    again.key("2"); again.key("Enter");
    await settle();
    out.first = first;
  } else if (scenario === "arrows") {
    const page = run(storage, [{ status: 409, body: { next: "/s/CODE/" } }], "preference");
    await settle();
    page.key("ArrowRight"); page.key("Enter");
    await settle();
  } else if (scenario === "broken-image") {
    // a picture that fails three times: the page's load and both retries; a fourth try works
    const broken = fakeImage(3);
    const page = run(storage, [{ status: 201 }, { status: 201, body: { next: "/s/CODE/" } }],
                     "likert", [fakeImage(0), broken]);
    await settle(); await settle();
    const notice = page.form.inserted[0];
    const state = () => ({
      fieldsets: page.form.fieldsets.map((f) => f.disabled), button: page.form.button.disabled,
      notice: notice ? { hidden: notice.hidden, role: notice.attributes.role,
                         text: notice.children.map((c) => c.textContent) } : null,
    });
    out.failed = state();
    out.srcs = broken.srcs.slice();
    out.imageTimeouts = out.timeouts.slice();
    out.imageLog = out.log.slice();
    page.key("4"); page.key("Enter"); page.form.requestSubmit();  // cannot be answered
    await settle();
    out.fetchesWhileBroken = out.fetches.slice();
    notice.children[1].click();  // Try again: the picture loads this time
    await settle(); await settle();
    out.retried = state();
    out.srcsAfter = broken.srcs.slice();
    page.tick(700);
    page.key("4"); page.key("Enter");
    await settle(); await settle();
  } else if (scenario === "invalid") {
    const page = run(storage, [{ status: 400, body: { error: { message: "choose one of 1-5" } } }],
                     "likert");
    await settle();
    page.key("1"); page.key("Enter");
    await settle();
    out.errors.push(page.form.errorEl.textContent);
    out.buttonDisabled = page.form.button.disabled;
  }
  process.stdout.write(JSON.stringify(out));
}
main();
