// The users page: any signed-in user changes their own password here (and must, before anything
// else, after an administrator set it); an admin also lists, adds, re-roles, disables, enables,
// resets and deletes users. Every change goes through /api/v1/users and is in force (and
// journalled) when the answer arrives. Plain JavaScript, no external files.
"use strict";
(function () {
  const t = (key, values) => window.I18N.t(key, values);
  const roles = ["viewer", "operator", "engineer", "admin"];
  let session = { user: null };
  let users = [];
  let resetting = null;

  const { $, element } = window.Page;

  async function send(method, path, body) {
    const options = { method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const reply = await fetch(path, options);
    let json = null;
    try { json = await reply.json(); } catch (error) { json = null; }
    return { status: reply.status, ok: reply.ok, json };
  }

  // The server's reason, in the page's words where there are some.
  function reason(reply) {
    if (reply.status === 401) return t("signedOutReason", { reason: (reply.json && reply.json.error) || "" });
    if (reply.status === 403 && !(reply.json && reply.json.error)) return t("notAllowed");
    return t("failed", { reason: (reply.json && reply.json.error) || String(reply.status) });
  }

  function showNotice(text) {
    $("#notice").textContent = text || "";
    $("#notice").hidden = !text;
  }

  // ---- Session ----

  async function loadSession() {
    const reply = await send("GET", "/api/v1/session");
    session = reply.ok && reply.json ? reply.json : { user: null };
    const user = session.user;
    $("#user-name").textContent = user ? `${user.name} (${t("role_" + user.role)})` : "";
    $("#sign-out").hidden = !user;
    $("#password").hidden = !user;
    $("#password-required").hidden = !(user && user.must_change_password);
    $("#users").hidden = !(user && user.role === "admin" && !user.must_change_password);
    if (!user) {
      showNotice(t("signInFirst"));
      return;
    }
    showNotice("");
    if (user.must_change_password) {
      $("#password-current").focus();
    } else if (user.role === "admin") {
      await loadUsers();
    }
  }

  async function signOut() {
    await send("POST", "/api/v1/logout");
    location.assign("/");
  }

  // ---- Own password ----

  async function changePassword(event) {
    event.preventDefault();
    const result = $("#password-result");
    const current = $("#password-current").value;
    const next = $("#password-new").value;
    if (next !== $("#password-repeat").value) {
      result.textContent = t("passwordsDiffer");
      $("#password-repeat").focus();
      return;
    }
    const reply = await send("POST", "/api/v1/session/password", { current, new: next });
    if (reply.status === 204) {
      $("#password-form").reset();
      result.textContent = t("passwordChanged");
      const wasRequired = session.user && session.user.must_change_password;
      await loadSession();
      // The change was what stood between the user and the dashboard.
      if (wasRequired && session.user && session.user.role !== "admin") location.assign("/");
    } else if (reply.status === 401) {
      result.textContent = reason(reply);
      await loadSession();
    } else {
      result.textContent = reason(reply);
    }
  }

  // ---- Administration ----

  async function loadUsers() {
    const reply = await send("GET", "/api/v1/users");
    if (!reply.ok) {
      $("#users-result").textContent = reason(reply);
      if (reply.status === 401 || reply.status === 403) await loadSession();
      return;
    }
    users = reply.json || [];
    renderUsers();
  }

  function roleSelect(user) {
    const id = "role-" + user.name;
    const select = element("select", { id, dataset: { user: user.name } },
      roles.map((role) => element("option", { value: role, text: t("role_" + role), selected: role === user.role })));
    select.addEventListener("change", () => update(user.name, { role: select.value }));
    return [element("label", { for: id, class: "visually-hidden", text: t("roleOf", { name: user.name }) }), select];
  }

  function renderUsers() {
    const rows = $("#user-rows");
    rows.replaceChildren();
    for (const user of users) {
      const notes = [user.disabled ? t("disabled") : t("enabled")];
      if (user.must_change_password) notes.push(t("mustChange"));
      const toggle = element("button", {
        type: "button", dataset: { action: user.disabled ? "enable" : "disable", user: user.name },
        text: user.disabled ? t("enable") : t("disable"),
        "aria-label": t(user.disabled ? "enableUser" : "disableUser", { name: user.name }),
      });
      toggle.addEventListener("click", () => update(user.name, { disabled: !user.disabled }));
      const reset = element("button", {
        type: "button", dataset: { action: "reset", user: user.name }, text: t("resetPassword"),
        "aria-label": t("resetPasswordOf", { name: user.name }),
      });
      reset.addEventListener("click", () => openReset(user.name));
      const remove = element("button", {
        type: "button", dataset: { action: "delete", user: user.name }, text: t("delete"),
        "aria-label": t("deleteUser", { name: user.name }),
      });
      remove.addEventListener("click", () => removeUser(user.name));
      rows.appendChild(element("tr", { dataset: { user: user.name, disabled: String(user.disabled) } }, [
        element("th", { scope: "row", text: user.name }),
        element("td", {}, roleSelect(user)),
        element("td", { text: notes.join(", ") }),
        element("td", { class: "row-actions" }, [toggle, reset, remove]),
      ]));
    }
  }

  async function afterChange(reply, done) {
    const result = $("#users-result");
    if (reply.ok) {
      result.textContent = done;
      await loadUsers();
      // The admin's own change may have changed what they may see.
      if (session.user && users.every((user) => user.name !== session.user.name || user.role !== "admin")) await loadSession();
    } else {
      result.textContent = reason(reply);
      if (reply.status === 401) await loadSession();
      else await loadUsers();
    }
  }

  async function update(name, change) {
    const reply = await send("PATCH", "/api/v1/users/" + encodeURIComponent(name), change);
    const done = "role" in change ? t("roleChanged", { name, role: t("role_" + change.role) })
      : change.disabled ? t("userDisabled", { name }) : t("userEnabled", { name });
    await afterChange(reply, done);
  }

  async function removeUser(name) {
    if (!confirm(t("confirmDelete", { name }))) return;
    const reply = await send("DELETE", "/api/v1/users/" + encodeURIComponent(name));
    await afterChange(reply, t("userDeleted", { name }));
  }

  async function addUser(event) {
    event.preventDefault();
    const name = $("#add-name").value.trim();
    const reply = await send("POST", "/api/v1/users", {
      name, role: $("#add-role").value, password: $("#add-password").value,
    });
    if (reply.ok) $("#add-form").reset();
    await afterChange(reply, t("userAdded", { name }));
    if (!reply.ok) $("#add-name").focus();
  }

  function openReset(name) {
    resetting = name;
    $("#reset-title").textContent = t("resetPasswordOf", { name });
    $("#reset-error").textContent = "";
    $("#reset-password").value = "";
    $("#reset").showModal();
    $("#reset-password").focus();
  }

  async function submitReset(event) {
    event.preventDefault();
    const name = resetting;
    const reply = await send("POST", `/api/v1/users/${encodeURIComponent(name)}/password-reset`, {
      password: $("#reset-password").value,
    });
    if (!reply.ok && reply.status !== 401) {
      $("#reset-error").textContent = reason(reply);
      return;
    }
    $("#reset").close();
    await afterChange(reply, t("passwordReset", { name }));
  }

  function renderRoleChoices() {
    const select = $("#add-role");
    const chosen = select.value || "viewer";
    select.replaceChildren(...roles.map((role) => element("option", { value: role, text: t("role_" + role), selected: role === chosen })));
  }

  document.addEventListener("DOMContentLoaded", () => {
    window.I18N.apply();
    const language = $("#language");
    language.value = window.I18N.language;
    language.addEventListener("change", () => window.I18N.set(language.value));
    document.addEventListener("languagechange", () => {
      renderRoleChoices();
      renderUsers();
      loadSession();
    });
    renderRoleChoices();
    $("#sign-out").addEventListener("click", signOut);
    $("#password-form").addEventListener("submit", changePassword);
    $("#add-form").addEventListener("submit", addUser);
    $("#reset-form").addEventListener("submit", submitReset);
    $("#reset-cancel").addEventListener("click", () => $("#reset").close());
    loadSession();
  });
})();
