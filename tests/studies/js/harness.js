/* Runs static/js/participant.js against a tiny fake DOM and prints what it did as JSON.
 * Usage: node harness.js SCRIPT SCENARIO   (scenarios below; used by test_participant_js.py) */
"use strict";
const fs = require("fs");
const vm = require("vm");

const [script, scenario] = process.argv.slice(2);
const source = fs.readFileSync(script, "utf8");
const out = { fetches: [], navigations: [], errors: [] };

function input(name, value, key, arrow) {
  return { name, value: String(value), checked: false, type: "radio", dataset: { key, arrow },
           focus() {} };
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
    dataset: { code: "CODE", trial: "3", api: "/api/participants/CODE/responses/" },
    elements: { idempotency_key: { value: "server-key-0000" } },
    classList: { add() {} },
    images: [{ complete: true }],
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

function run(storage, replies, kind, actions) {
  const form = makeForm(kind);
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
    setTimeout: (fn) => { pending.push(fn); Promise.resolve().then(() => pending.shift()()); },
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
    again.key("2"); again.key("Enter");
    await settle();
    out.first = first;
  } else if (scenario === "arrows") {
    const page = run(storage, [{ status: 409, body: { next: "/s/CODE/" } }], "preference");
    page.key("ArrowRight"); page.key("Enter");
    await settle();
  } else if (scenario === "invalid") {
    const page = run(storage, [{ status: 400, body: { error: { message: "choose one of 1-5" } } }],
                     "likert");
    page.key("1"); page.key("Enter");
    await settle();
    out.errors.push(page.form.errorEl.textContent);
    out.buttonDisabled = page.form.button.disabled;
  }
  process.stdout.write(JSON.stringify(out));
}
main();
