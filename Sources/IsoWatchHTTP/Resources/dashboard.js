// The dashboard: live tiles from the server-sent event stream, a detail view with trends and
// events, and the panel's buttons behind a sign-in. Plain JavaScript, no external files.
"use strict";
(function () {
  const t = (key, values) => window.I18N.t(key, values);
  const systems = new Map();        // id → latest status from the server
  const liveHistory = new Map();    // id → [{t, values}] seen since the page loaded
  let session = { user: null, open_read: false };
  let stream = null;
  let streamLive = false;
  let lastEventAt = 0;
  let currentSpan = "hour";
  let pendingAction = null;

  const { $, element } = window.Page;

  // ---- Values, with their units and any "<" / ">" from the device's measuring range ----

  function withValidity(status, key, text) {
    const validity = status.reading && status.reading.validity && status.reading.validity[key];
    if (validity === "below_range") return "< " + text;
    if (validity === "above_range") return "> " + text;
    if (validity === "invalid") return "—";
    return text;
  }
  const number = (value, digits) =>
    value.toLocaleString(window.I18N.language, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  function ohms(value) {
    if (value >= 1e6) return number(value / 1e6, 2) + " MΩ";
    if (value >= 1e3) return number(value / 1e3, 1) + " kΩ";
    return number(value, 0) + " Ω";
  }
  const farads = (value) => number(value * 1e6, 2) + " µF";
  const percent = (value) => number(value, 0) + " %";
  const celsius = (value) => number(value, 1) + " °C";
  const quantities = [
    ["insulation", "insulation_resistance_ohms", ohms],
    ["capacitance", "leakage_capacitance_farads", farads],
    ["load", "load_percent", percent],
    ["temperature", "winding_temperature_celsius", celsius],
  ];

  // ---- Tile state: the panel's colours, and grey whenever the value is not current ----

  function tileState(status) {
    if (!streamLive) return "stale";
    if (status.alarm.state === "test") return "test";
    if (status.stale || !status.communication.ok) return "stale";
    if (status.alarm.state === "alarm") return "alarm";
    return "normal";
  }

  function stateLabel(state) {
    return { normal: t("stateNormal"), alarm: t("stateAlarm"), test: t("stateTest"), stale: t("stateStale") }[state];
  }

  function tile(status, large) {
    const state = tileState(status);
    const values = status.reading ? status.reading : null;
    const list = element("dl");
    for (const [label, key, format] of quantities) {
      const value = values && typeof values[key] === "number" ? withValidity(status, key, format(values[key])) : "—";
      list.appendChild(element("dt", { text: t(label) }));
      list.appendChild(element("dd", { text: value, dataset: { quantity: key } }));
    }
    const reasons = [];
    for (const condition of status.alarm.conditions) reasons.push(t("c_" + condition));
    if (state === "stale" && !streamLive) reasons.unshift(t("lost"));
    const children = [
      element("h3", {}, [element("span", { text: status.name }), element("span", { class: "state", text: stateLabel(state) })]),
      list,
    ];
    if (reasons.length) children.push(element("p", { class: "why", text: reasons.join(" · ") }));
    if (status.outputs.buzzer) children.push(element("p", { class: "buzzer sounding", text: t("buzzerSounding") }));
    else if (status.alarm.silenced && status.alarm.silenced_by) {
      children.push(element("p", { class: "buzzer", text: t("buzzerSilenced", { user: status.alarm.silenced_by }) }));
    }
    if (status.alarm.unacknowledged && status.alarm.unacknowledged.length) {
      const list = status.alarm.unacknowledged.map((c) => t("c_" + c)).join(", ");
      children.push(element("p", { class: "why", text: t("unacknowledged", { list }) }));
    }
    if (state === "stale" && status.communication.last_success) {
      const age = new Date(status.communication.last_success).toLocaleTimeString(window.I18N.language);
      children.push(element("p", { class: "why", text: t("lastValue", { age }) }));
    }
    const attributes = {
      class: "tile", dataset: { systemId: status.id, state, alarm: String(status.outputs.yellow) },
      "aria-label": `${status.name}: ${stateLabel(state)}${reasons.length ? " – " + reasons.join(", ") : ""}`,
    };
    if (large) return element("div", attributes, children);
    return element("a", Object.assign({ href: "#/systems/" + encodeURIComponent(status.id) }, attributes), children);
  }

  // ---- Overview ----

  function renderOverview() {
    const root = $("#locations");
    const byLocation = new Map();
    for (const status of systems.values()) {
      const key = status.location || t("noLocation");
      if (!byLocation.has(key)) byLocation.set(key, []);
      byLocation.get(key).push(status);
    }
    root.replaceChildren();
    let index = 0;
    for (const [location, members] of byLocation) {
      const headingID = "location-" + index++;
      const items = members.map((status) => element("li", {}, [tile(status, false)]));
      root.appendChild(
        element("section", { class: "location", "aria-labelledby": headingID }, [
          element("h2", { id: headingID, text: location }),
          element("ul", { class: "tiles" }, items),
        ]));
    }
  }

  function updateTile(status) {
    const existing = document.querySelector(`#locations .tile[data-system-id="${CSS.escape(status.id)}"]`);
    if (existing) existing.replaceWith(tile(status, false));
    else renderOverview();
    if (currentDetail() === status.id) {
      $("#detail-tile").replaceChildren(tile(status, true));
    }
  }

  function announce(previous, status) {
    const before = previous ? tileState(previous) : null;
    const after = tileState(status);
    if (before && before !== after) {
      $("#announcer").textContent = `${status.name}: ${stateLabel(after)}`;
    }
  }

  // ---- Live stream ----

  function setConnection(state) {
    streamLive = state === "live";
    const indicator = $("#connection");
    indicator.dataset.state = state;
    indicator.textContent = t(state === "live" ? "live" : state === "lost" ? "lost" : "connecting");
  }

  function connect() {
    if (stream) stream.close();
    setConnection("connecting");
    stream = new EventSource("/api/v1/stream");
    stream.addEventListener("open", () => {
      setConnection("live");
      renderOverview();
    });
    stream.addEventListener("status", (event) => {
      lastEventAt = Date.now();
      if (!streamLive) setConnection("live");
      const status = JSON.parse(event.data);
      const previous = systems.get(status.id);
      systems.set(status.id, status);
      rememberLive(status);
      announce(previous, status);
      updateTile(status);
    });
    stream.addEventListener("error", () => {
      // Until the stream is back every value shown is history: every tile turns grey.
      setConnection("lost");
      renderOverview();
      const id = currentDetail();
      if (id && systems.has(id)) $("#detail-tile").replaceChildren(tile(systems.get(id), true));
      if (stream && stream.readyState === EventSource.CLOSED) {
        // A closed stream (for example 401 after the session expired) is not retried by the browser.
        setTimeout(start, 3000);
      }
    });
  }

  // A stream that says nothing for long is as good as lost: readings arrive every poll interval.
  setInterval(() => {
    if (streamLive && lastEventAt && Date.now() - lastEventAt > 30000) {
      setConnection("lost");
      renderOverview();
      connect();
    }
  }, 5000);

  function rememberLive(status) {
    if (!status.reading || !status.reading.timestamp) return;
    const list = liveHistory.get(status.id) || [];
    const time = Date.parse(status.reading.timestamp);
    if (list.length && list[list.length - 1].t >= time) return;
    list.push({ t: time, values: status.reading });
    while (list.length > 4000) list.shift();
    liveHistory.set(status.id, list);
  }

  // ---- Session ----

  async function loadSession() {
    try {
      const reply = await fetch("/api/v1/session", { credentials: "same-origin" });
      session = await reply.json();
    } catch (error) {
      session = { user: null, open_read: false };
    }
    renderSession();
  }

  function renderSession() {
    const signedIn = Boolean(session.user);
    $("#sign-in").hidden = signedIn;
    $("#sign-out").hidden = !signedIn;
    $("#user-name").textContent = signedIn ? `${session.user.name} (${session.user.role})` : "";
    $("#configuration-link").hidden = !signedIn || !["engineer", "admin"].includes(session.user.role);
    // users.html: the administration of users for admins, the own password for everybody else.
    const link = $("#users-link");
    link.hidden = !signedIn;
    link.dataset.i18n = signedIn && session.user.role === "admin" ? "users" : "account";
    link.textContent = t(link.dataset.i18n);
    // A password an administrator set must be replaced before anything else works.
    if (signedIn && session.user.must_change_password) location.assign("/users.html");
  }

  function openLogin(reason) {
    $("#login-reason").textContent = reason || "";
    $("#login-error").textContent = "";
    $("#login-password").value = "";
    const dialog = $("#login");
    if (!dialog.open) dialog.showModal();
    $("#login-name").focus();
  }

  async function submitLogin(event) {
    event.preventDefault();
    const name = $("#login-name").value;
    const password = $("#login-password").value;
    const reply = await fetch("/api/v1/login", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name, password }),
    });
    if (reply.status === 200) {
      $("#login").close();
      await loadSession();
      if (!stream || !streamLive) start();
      if (pendingAction) {
        const action = pendingAction;
        pendingAction = null;
        perform(action);
      }
      return;
    }
    if (reply.status === 429) {
      $("#login-error").textContent = t("tooMany", { seconds: reply.headers.get("Retry-After") || "?" });
    } else if (reply.status === 503) {
      let reason = "";
      try { reason = (await reply.json()).error || ""; } catch (error) { /* no body */ }
      $("#login-error").textContent = t("failed", { reason });
      loadHealth();
    } else {
      $("#login-error").textContent = t("wrongPassword");
    }
  }

  async function signOut() {
    await fetch("/api/v1/logout", { method: "POST", credentials: "same-origin" });
    await loadSession();
    if (!session.open_read) {
      if (stream) stream.close();
      stream = null;
      systems.clear();
      renderOverview();
      showNotice(t("signInToRead"));
    }
  }

  function showNotice(text) {
    const notice = $("#notice");
    notice.textContent = text || "";
    notice.hidden = !text;
  }

  // ---- Add-ons: a BMS server, users file or web server that is down is shown, never hidden ----

  let addOns = [];

  async function loadHealth() {
    try {
      const reply = await fetch("/healthz", { credentials: "same-origin" });
      if (reply.ok) addOns = (await reply.json()).add_ons || [];
    } catch (error) {
      // The connection indicator already says that the service cannot be reached.
    }
    renderHealth();
  }

  function renderHealth() {
    const banner = $("#add-ons");
    const degraded = addOns.filter((addOn) => addOn.status === "degraded");
    banner.replaceChildren();
    banner.hidden = degraded.length === 0;
    banner.dataset.degraded = degraded.map((addOn) => addOn.name).join(",");
    if (degraded.length === 0) return;
    banner.appendChild(element("strong", { text: t("degraded") }));
    banner.appendChild(element("ul", {}, degraded.map((addOn) =>
      element("li", { text: `${t("addon_" + addOn.name)}: ${addOn.reason || ""}` }))));
  }

  // ---- Actions ----

  async function perform(action) {
    const id = currentDetail();
    if (!id) return;
    const result = $("#action-result");
    result.textContent = "";
    if (!session.user) {
      pendingAction = action;
      openLogin(t("signInToAct", { action: t(action) }));
      return;
    }
    const reply = await fetch(`/api/v1/systems/${encodeURIComponent(id)}/${action}`, {
      method: "POST", credentials: "same-origin",
    });
    if (reply.status === 401) {
      session.user = null;
      renderSession();
      pendingAction = action;
      openLogin(t("signInToAct", { action: t(action) }));
    } else if (reply.status === 403) {
      result.textContent = t("notAllowed");
    } else if (reply.ok) {
      const status = await reply.json();
      systems.set(status.id, status);
      updateTile(status);
      result.textContent = t("done", { action: t(action) });
      loadEvents(id);
    } else {
      let reason = String(reply.status);
      try { reason = (await reply.json()).error || reason; } catch (error) { /* not JSON */ }
      result.textContent = t("failed", { reason });
    }
  }

  // ---- Detail view: trends and events ----

  function currentDetail() {
    const match = location.hash.match(/^#\/systems\/([^/]+)$/);
    return match ? decodeURIComponent(match[1]) : null;
  }

  function route() {
    const id = currentDetail();
    $("#overview").hidden = Boolean(id);
    $("#detail").hidden = !id;
    if (!id) return;
    const status = systems.get(id);
    $("#detail-title").textContent = status ? `${status.name} – ${status.location}` : id;
    if (status) $("#detail-tile").replaceChildren(tile(status, true));
    loadCharts(id);
    loadEvents(id);
  }

  const spanMilliseconds = { hour: 3600e3, day: 86400e3, week: 7 * 86400e3 };

  // The store's history answers with points per time; this reads the common shapes: a list, or
  // an object holding one, each point with a time and per quantity a number or {min, mean, max}.
  function historyPoints(body, key) {
    const list = Array.isArray(body) ? body : body.points || body.samples || body.readings || body.history || [];
    const points = [];
    for (const entry of list) {
      const time = Date.parse(entry.time || entry.timestamp || entry.t || entry.start || entry.bucket_start);
      let value = entry[key];
      if (value === undefined && entry.values) value = entry.values[key];
      if (!Number.isFinite(time) || value === undefined || value === null) continue;
      if (typeof value === "number") points.push({ t: time, min: value, mean: value, max: value });
      else points.push({ t: time, min: value.min, mean: value.mean ?? value.avg ?? value.value, max: value.max });
    }
    return points.sort((a, b) => a.t - b.t);
  }

  async function loadCharts(id) {
    const container = $("#charts");
    const to = Date.now();
    const from = to - spanMilliseconds[currentSpan];
    let body = null;
    try {
      const reply = await fetch(`/api/v1/systems/${encodeURIComponent(id)}/history?span=${currentSpan}`, { credentials: "same-origin" });
      if (reply.ok) body = await reply.json();
    } catch (error) { body = null; }
    const live = (liveHistory.get(id) || []).filter((p) => p.t >= from);
    const pointsFor = (key) => {
      const stored = body ? historyPoints(body, key) : [];
      if (stored.length) return stored;
      return live.filter((p) => typeof p.values[key] === "number")
        .map((p) => ({ t: p.t, min: p.values[key], mean: p.values[key], max: p.values[key] }));
    };
    const status = systems.get(id);
    const limits = (status && status.thresholds) || {};
    const charts = [
      ["insulation", "insulation_resistance_ohms", ohms, true, [
        limits.insulation_response_ohms && { value: limits.insulation_response_ohms, label: t("threshold"), kind: "threshold" },
        limits.insulation_prewarning_ohms && { value: limits.insulation_prewarning_ohms, label: t("prewarning"), kind: "prewarning" },
      ]],
      ["capacitance", "leakage_capacitance_farads", farads, false, []],
      ["load", "load_percent", percent, false, [
        limits.load_percent && { value: limits.load_percent, label: t("threshold"), kind: "threshold" },
      ]],
      ["temperature", "winding_temperature_celsius", celsius, false, [
        limits.winding_temperature_celsius && { value: limits.winding_temperature_celsius, label: t("threshold"), kind: "threshold" },
      ]],
    ];
    container.replaceChildren();
    for (const [label, key, format, log, thresholds] of charts) {
      window.Charts.draw(container, {
        title: t(label), format, log, from, to, points: pointsFor(key), thresholds: thresholds.filter(Boolean),
        emptyText: t("noHistory"), locale: window.I18N.language,
      });
    }
  }

  // The journal's detail is free JSON: text as it is, an object as "key: value" pairs.
  function detailText(detail) {
    if (detail === undefined || detail === null) return "";
    if (typeof detail !== "object") return String(detail);
    if (Array.isArray(detail)) return detail.map(detailText).join(", ");
    return Object.entries(detail).map(([key, value]) => `${key}: ${detailText(value)}`).join("; ");
  }

  async function loadEvents(id) {
    const body = $("#events tbody");
    let list = [];
    try {
      const reply = await fetch(`/api/v1/events?system=${encodeURIComponent(id)}&limit=100`, { credentials: "same-origin" });
      if (reply.ok) {
        const json = await reply.json();
        list = Array.isArray(json) ? json : json.events || [];
      }
    } catch (error) { list = []; }
    body.replaceChildren();
    for (const entry of list.filter((e) => !e.system || e.system === id || e.system_id === id)) {
      const time = entry.time || entry.timestamp || entry.at;
      body.appendChild(element("tr", {}, [
        element("td", { text: time ? new Date(time).toLocaleString(window.I18N.language) : "" }),
        element("td", { text: entry.kind || entry.type || "" }),
        element("td", { text: entry.user || "" }),
        element("td", { text: detailText(entry.detail) }),
      ]));
    }
  }

  // ---- Start ----

  async function start() {
    await loadSession();
    if (session.open_read || session.user) {
      showNotice("");
      connect();
    } else {
      showNotice(t("signInToRead"));
      setConnection("connecting");
      openLogin(t("signInToRead"));
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.body.appendChild(element("p", { id: "announcer", class: "visually-hidden", role: "status", "aria-live": "assertive" }));
    window.I18N.apply();
    const select = $("#language");
    select.value = window.I18N.language;
    select.addEventListener("change", () => window.I18N.set(select.value));
    document.addEventListener("languagechange", () => {
      setConnection(streamLive ? "live" : ($("#connection").dataset.state || "connecting"));
      renderOverview();
      route();
      renderSession();
      renderHealth();
    });
    $("#sign-in").addEventListener("click", () => openLogin(""));
    $("#sign-out").addEventListener("click", signOut);
    $("#login-form").addEventListener("submit", submitLogin);
    $("#login-cancel").addEventListener("click", () => { pendingAction = null; $("#login").close(); });
    for (const button of document.querySelectorAll("[data-action]")) {
      button.addEventListener("click", () => perform(button.dataset.action));
    }
    for (const button of document.querySelectorAll("[data-span]")) {
      button.addEventListener("click", () => {
        currentSpan = button.dataset.span;
        for (const other of document.querySelectorAll("[data-span]")) other.setAttribute("aria-selected", String(other === button));
        const id = currentDetail();
        if (id) loadCharts(id);
      });
    }
    window.addEventListener("hashchange", route);
    route();
    start();
    loadHealth();
    // Add-ons are retried by the service every 5 s to 5 min; the banner follows them.
    setInterval(loadHealth, 10000);
  });
})();
