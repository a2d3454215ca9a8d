// The engineer's configuration page: the file in force, a new file previewed (its diff, or its
// errors with line and field) before it is applied, and the change record with roll-back.
// Plain JavaScript, no external files; words from i18n.js.
"use strict";
(function () {
  const t = (key, values) => window.I18N.t(key, values);
  const $ = (selector) => document.querySelector(selector);
  // The text last previewed without errors: Apply sends exactly that, so what is applied is what
  // was seen.
  let previewedText = null;
  let available = false;
  let lastAnswer = null;
  let versions = [];

  const element = window.Page.element;

  const when = (text) => new Date(text).toLocaleString(window.I18N.language);
  const shortHash = (hash) => (hash || "").slice(0, 12);

  async function errorOf(reply) {
    try { return (await reply.json()).error || ""; } catch (error) { return ""; }
  }

  function showNotice(text) {
    const notice = $("#notice");
    notice.replaceChildren();
    notice.hidden = !text;
    if (!text) return;
    notice.appendChild(document.createTextNode(text));
  }

  // 401, 403 and 503 mean the same for the whole page: nothing here can be used; say why.
  async function refusal(reply) {
    if (reply.status === 401) return t("cfg_signInAsEngineer");
    if (reply.status === 403) return t("notAllowed");
    if (reply.status === 503) return t("cfg_unavailable", { reason: await errorOf(reply) });
    return null;
  }

  function setAvailable(value) {
    available = value;
    for (const id of ["#upload", "#proposed", "#comment", "#preview"]) $(id).disabled = !value;
    $("#apply").disabled = !value || previewedText === null || previewedText !== $("#proposed").value;
  }

  // ---- Session: who is signed in (the page itself needs no session, its data does) ----

  async function loadSession() {
    try {
      const session = await (await fetch("/api/v1/session", { credentials: "same-origin" })).json();
      $("#user-name").textContent = session.user ? `${session.user.name} (${session.user.role})` : "";
    } catch (error) {
      $("#user-name").textContent = "";
    }
  }

  // ---- The configuration in force ----

  async function loadInForce() {
    const reply = await fetch("/api/v1/configuration", { credentials: "same-origin" });
    const refused = await refusal(reply);
    if (refused) {
      showNotice(refused);
      setAvailable(false);
      return false;
    }
    showNotice("");
    setAvailable(true);
    if (reply.status === 404) {
      $("#in-force-meta").textContent = t("cfg_noneRecorded");
      $("#in-force-text").value = "";
      return true;
    }
    const version = await reply.json();
    $("#in-force-meta").textContent = t("cfg_versionMeta", {
      id: version.id, time: when(version.applied_at), author: version.author,
      origin: t("cfg_origin_" + version.origin), sha: shortHash(version.sha256),
    });
    $("#in-force-text").value = version.content || "";
    if (!$("#proposed").value) $("#proposed").value = version.content || "";
    return true;
  }

  // ---- Preview, apply, and what came of it ----

  function renderAnswer(answer, status) {
    lastAnswer = { answer, status };
    const root = $("#result");
    root.replaceChildren();
    root.dataset.outcome = answer ? answer.outcome : "error";
    if (!answer) {
      root.appendChild(element("p", { class: "error", text: t("failed", { reason: status }) }));
      return;
    }
    root.appendChild(element("p", { class: "outcome", text: t("cfg_outcome_" + answer.outcome, { id: answer.version_id }) }));
    if (answer.errors && answer.errors.length) {
      const items = answer.errors.map((problem) => {
        const where = problem.line > 0 ? `${problem.file}:${problem.line}:${problem.column}` : problem.file;
        const field = problem.field ? ` – ${problem.field}` : "";
        return element("li", { text: `${where}${field}: ${problem.reason}` });
      });
      root.appendChild(element("ul", { class: "errors" }, items));
    }
    const diff = answer.diff;
    if (!diff) return;
    if (diff.restart_required && diff.restart_required.length) {
      root.appendChild(element("p", { class: "error", text: t("cfg_restartRequired", { fields: diff.restart_required.join(", ") }) }));
    }
    if (diff.applied && diff.applied.length) {
      root.appendChild(element("p", { text: t("cfg_appliedLive", { fields: diff.applied.join(", ") }) }));
    }
    const rows = [];
    let unchanged = 0;
    for (const [kind, list] of [["system", diff.systems || []], ["panel", diff.panels || []]]) {
      for (const item of list) {
        if (item.change === "unchanged") { unchanged += 1; continue; }
        rows.push(element("tr", { dataset: { id: item.id, change: item.change } }, [
          element("td", { text: (kind === "panel" ? t("cfg_panel") + " " : "") + item.id }),
          element("td", { text: t("cfg_change_" + item.change) }),
          element("td", { text: (item.fields || []).join(", ") }),
        ]));
      }
    }
    if (rows.length) {
      root.appendChild(element("table", { class: "events diff" }, [
        element("caption", { text: t("cfg_diffCaption") }),
        element("thead", {}, [element("tr", {}, [
          element("th", { scope: "col", text: t("cfg_item") }),
          element("th", { scope: "col", text: t("cfg_changeColumn") }),
          element("th", { scope: "col", text: t("cfg_fields") }),
        ])]),
        element("tbody", {}, rows),
      ]));
    }
    if (unchanged) root.appendChild(element("p", { text: t("cfg_unchangedCount", { count: unchanged }) }));
  }

  async function send(path, body) {
    const reply = await fetch(path, {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/yaml" }, body,
    });
    const refused = await refusal(reply);
    if (refused) {
      showNotice(refused);
      return null;
    }
    let answer = null;
    try { answer = await reply.json(); } catch (error) { /* not a configuration answer */ }
    if (answer && !answer.outcome) {
      renderAnswer(null, answer.error || reply.status);
      return null;
    }
    renderAnswer(answer, reply.status);
    return answer;
  }

  async function preview() {
    const text = $("#proposed").value;
    const answer = await send("/api/v1/configuration/preview", text);
    previewedText = answer && answer.outcome === "previewed" ? text : null;
    setAvailable(available);
  }

  function commentQuery() {
    const comment = $("#comment").value.trim();
    return comment ? "?comment=" + encodeURIComponent(comment) : "";
  }

  async function apply() {
    if (previewedText === null || previewedText !== $("#proposed").value) return;
    const answer = await send("/api/v1/configuration" + commentQuery(), previewedText);
    if (answer && answer.outcome === "applied") {
      previewedText = null;
      $("#comment").value = "";
      await loadInForce();
      await loadHistory();
    }
    setAvailable(available);
  }

  // ---- The change record ----

  async function loadHistory() {
    const reply = await fetch("/api/v1/configuration/history?limit=100", { credentials: "same-origin" });
    versions = reply.ok ? await reply.json() : [];
    renderHistory();
  }

  function renderHistory() {
    const body = $("#versions tbody");
    body.replaceChildren();
    for (const version of versions) {
      body.appendChild(element("tr", { dataset: { versionId: version.id } }, [
        element("td", { text: String(version.id) }),
        element("td", { text: when(version.applied_at) }),
        element("td", { text: version.author }),
        element("td", { text: t("cfg_origin_" + version.origin) }),
        element("td", { text: version.comment || "" }),
        element("td", {}, [element("code", { title: version.sha256, text: shortHash(version.sha256) })]),
        element("td", {}, [
          element("button", { type: "button", dataset: { view: version.id }, text: t("cfg_view") }),
          element("button", { type: "button", dataset: { rollback: version.id }, text: t("cfg_rollBack") }),
        ]),
      ]));
    }
  }

  async function view(id) {
    const reply = await fetch("/api/v1/configuration/history/" + encodeURIComponent(id), { credentials: "same-origin" });
    if (!reply.ok) {
      showNotice(t("failed", { reason: await errorOf(reply) }));
      return;
    }
    const version = await reply.json();
    $("#viewer").hidden = false;
    $("#viewer-label").textContent = t("cfg_viewing", { id: version.id, time: when(version.applied_at), author: version.author });
    $("#viewer-text").value = version.content || "";
    $("#viewer-text").focus();
  }

  async function rollback(id) {
    if (!window.confirm(t("cfg_confirmRollBack", { id }))) return;
    const answer = await send(`/api/v1/configuration/history/${encodeURIComponent(id)}/rollback` + commentQuery(), "");
    if (answer && answer.outcome === "applied") {
      $("#comment").value = "";
      await loadInForce();
      await loadHistory();
    }
    $("#result").scrollIntoView({ block: "nearest" });
  }

  // ---- Wiring ----

  function relabel() {
    window.I18N.apply();
    if (lastAnswer) renderAnswer(lastAnswer.answer, lastAnswer.status);
    renderHistory();
  }

  document.addEventListener("DOMContentLoaded", async () => {
    window.I18N.apply();
    $("#language").value = window.I18N.language;
    $("#language").addEventListener("change", (event) => window.I18N.set(event.target.value));
    document.addEventListener("languagechange", relabel);
    $("#upload").addEventListener("change", async (event) => {
      const file = event.target.files && event.target.files[0];
      if (!file) return;
      $("#proposed").value = await file.text();
      previewedText = null;
      setAvailable(available);
    });
    // Any edit after a preview must be previewed again before it can be applied.
    $("#proposed").addEventListener("input", () => setAvailable(available));
    $("#preview").addEventListener("click", preview);
    $("#apply").addEventListener("click", apply);
    $("#versions").addEventListener("click", (event) => {
      const button = event.target.closest("button");
      if (!button) return;
      if (button.dataset.view) view(button.dataset.view);
      if (button.dataset.rollback) rollback(button.dataset.rollback);
    });
    await loadSession();
    if (await loadInForce()) await loadHistory();
  });
})();
