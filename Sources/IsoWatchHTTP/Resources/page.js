// What both pages of the dashboard (index.html, users.html) build their DOM with. Plain
// JavaScript, no external files.
"use strict";
window.Page = {
  $: (selector) => document.querySelector(selector),

  // An element with attributes (`text`: its text, `dataset`: data-*, true: a bare attribute;
  // false, null and undefined: left out) and children (null children are skipped).
  element(name, attributes, children) {
    const node = document.createElement(name);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children || []) if (child) node.appendChild(child);
    return node;
  },
};
