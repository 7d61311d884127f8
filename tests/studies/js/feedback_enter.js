/* Runs static/js/participant.js on a fake feedback page (a page form marked
 * data-enter-continues) and prints, as JSON, how many times the form was submitted.
 * Usage: node feedback_enter.js SCRIPT MARKED(0|1)   (used by test_practice_feedback.py) */
"use strict";
const fs = require("fs");
const vm = require("vm");

const [script, marked] = process.argv.slice(2);
const out = { submits: 0, prevented: 0, afterLetter: 0 };
const submitListeners = [];
const keyListeners = [];
const form = {
  hasAttribute: (name) => name === "data-enter-continues" && marked === "1",
  addEventListener: (type, fn) => { if (type === "submit") submitListeners.push(fn); },
  requestSubmit() {
    let cancelled = false;
    const event = { preventDefault() { cancelled = true; } };
    submitListeners.forEach((fn) => fn(event));
    if (!cancelled) out.submits += 1;
  },
  querySelector: () => ({ click() { form.requestSubmit(); } }),
  querySelectorAll: () => [],
};
const key = (k) => {
  const event = { key: k, preventDefault() { out.prevented += 1; } };
  keyListeners.forEach((fn) => fn(event));
};
vm.runInNewContext(fs.readFileSync(script, "utf8"), {
  window: {}, Promise, JSON, Array, setTimeout: (fn) => fn(),
  document: {
    querySelector: () => null,
    querySelectorAll: (sel) => (sel === "form[data-page-form]" ? [form] : []),
    addEventListener: (type, fn) => { if (type === "keydown") keyListeners.push(fn); },
  },
});
key("a");
out.afterLetter = out.submits;
key("Enter");
key("Enter");  // a second Enter (or a double click) must not post again
process.stdout.write(JSON.stringify(out));
