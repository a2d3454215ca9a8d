// Building the dashboard's pages from data: one element with its attributes and children. The
// pages never insert HTML text, so a system name or a comment cannot become markup.
"use strict";
(function () {
  function element(name, attributes, children) {
    const node = document.createElement(name);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children || []) if (child) node.appendChild(child);
    return node;
  }

  window.DOM = { element };
})();
