// The dashboard's words in English, German and Chinese. The language comes from the switch
// (kept in localStorage), else from the browser's Accept-Language order, else English.
"use strict";
(function () {
  const words = {
    en: {
      degraded: "Running without these parts (retried automatically; monitoring and alarms are not affected):",
      addon_bms: "BMS server (Modbus TCP)", addon_users: "Sign-in (users file)", addon_http: "Web server",
      title: "Isolated power supplies", language: "Language", signIn: "Sign in", signOut: "Sign out",
      connecting: "Connecting…", live: "Live", lost: "Connection lost – values may be out of date",
      overview: "Overview", back: "← All systems", actions: "Actions", silence: "Silence",
      acknowledge: "Acknowledge", test: "Test", trends: "Trends", hour: "Hour", day: "Day", week: "Week",
      events: "Events", time: "Time", event: "Event", user: "User", detailText: "Detail", name: "Name",
      password: "Password", cancel: "Cancel", noLocation: "Other",
      insulation: "Insulation resistance", capacitance: "Leakage capacitance", load: "Load",
      temperature: "Winding temperature",
      stateNormal: "Normal", stateAlarm: "Alarm", stateTest: "Test", stateStale: "No current data",
      buzzerSounding: "Buzzer sounding", buzzerSilenced: "Buzzer silenced by {user}", lastValue: "last value {age}",
      signInToAct: "Sign in to {action}.", signInToRead: "Sign in to see the systems.",
      notAllowed: "Your role may not do this.", wrongPassword: "Wrong name or password.",
      tooMany: "Too many attempts. Try again in {seconds} s.", done: "Done: {action}.", failed: "Failed: {reason}",
      noHistory: "No history for this span yet", unacknowledged: "Not acknowledged: {list}",
      threshold: "alarm threshold", prewarning: "prewarning",
      c_awaiting_first_measurement: "awaiting first measurement", c_insulation: "insulation fault",
      c_insulation_prewarning: "insulation prewarning", c_overload: "overload", c_overtemperature: "overtemperature",
      c_earth_connection: "earth connection broken", c_line_connection: "line connection broken",
      c_temperature_sensor: "temperature sensor fault", c_device: "device fault", c_self_test_failed: "self-test failed",
      c_communication: "communication lost", c_stale_data: "data stale",
    },
    de: {
      degraded: "Läuft ohne diese Teile (werden automatisch neu versucht; Überwachung und Alarme sind nicht betroffen):",
      addon_bms: "GLT-Server (Modbus TCP)", addon_users: "Anmeldung (Benutzerdatei)", addon_http: "Webserver",
      title: "Isolierte Stromversorgungen", language: "Sprache", signIn: "Anmelden", signOut: "Abmelden",
      connecting: "Verbinde…", live: "Live", lost: "Verbindung unterbrochen – Werte evtl. veraltet",
      overview: "Übersicht", back: "← Alle Systeme", actions: "Bedienung", silence: "Stummschalten",
      acknowledge: "Quittieren", test: "Test", trends: "Verläufe", hour: "Stunde", day: "Tag", week: "Woche",
      events: "Ereignisse", time: "Zeit", event: "Ereignis", user: "Benutzer", detailText: "Details", name: "Name",
      password: "Passwort", cancel: "Abbrechen", noLocation: "Sonstige",
      insulation: "Isolationswiderstand", capacitance: "Ableitkapazität", load: "Last",
      temperature: "Wicklungstemperatur",
      stateNormal: "Betrieb", stateAlarm: "Alarm", stateTest: "Test", stateStale: "Keine aktuellen Daten",
      buzzerSounding: "Summer ertönt", buzzerSilenced: "Summer stummgeschaltet von {user}", lastValue: "letzter Wert {age}",
      signInToAct: "Zum {action} bitte anmelden.", signInToRead: "Bitte anmelden, um die Systeme zu sehen.",
      notAllowed: "Ihre Rolle darf das nicht.", wrongPassword: "Name oder Passwort falsch.",
      tooMany: "Zu viele Versuche. Erneut in {seconds} s.", done: "Ausgeführt: {action}.", failed: "Fehlgeschlagen: {reason}",
      noHistory: "Noch kein Verlauf für diesen Zeitraum", unacknowledged: "Nicht quittiert: {list}",
      threshold: "Ansprechwert", prewarning: "Vorwarnung",
      c_awaiting_first_measurement: "erste Messung ausstehend", c_insulation: "Isolationsfehler",
      c_insulation_prewarning: "Isolationsvorwarnung", c_overload: "Überlast", c_overtemperature: "Übertemperatur",
      c_earth_connection: "Erdanschluss unterbrochen", c_line_connection: "Netzanschluss unterbrochen",
      c_temperature_sensor: "Temperaturfühler gestört", c_device: "Gerätefehler", c_self_test_failed: "Selbsttest fehlgeschlagen",
      c_communication: "Kommunikation gestört", c_stale_data: "Daten veraltet",
    },
    zh: {
      degraded: "以下部分暂不可用（自动重试；监测与报警不受影响）：",
      addon_bms: "楼宇管理系统服务器（Modbus TCP）", addon_users: "登录（用户文件）", addon_http: "网页服务器",
      title: "医用隔离电源", language: "语言", signIn: "登录", signOut: "退出",
      connecting: "正在连接…", live: "实时", lost: "连接中断——数值可能已过时",
      overview: "总览", back: "← 全部系统", actions: "操作", silence: "消音",
      acknowledge: "确认", test: "测试", trends: "趋势", hour: "小时", day: "天", week: "周",
      events: "事件", time: "时间", event: "事件", user: "用户", detailText: "详情", name: "用户名",
      password: "密码", cancel: "取消", noLocation: "其他",
      insulation: "绝缘电阻", capacitance: "对地电容", load: "负载", temperature: "绕组温度",
      stateNormal: "正常", stateAlarm: "报警", stateTest: "测试", stateStale: "无当前数据",
      buzzerSounding: "蜂鸣器报警中", buzzerSilenced: "{user} 已消音", lastValue: "最后数值 {age}",
      signInToAct: "请登录后{action}。", signInToRead: "请登录以查看系统。",
      notAllowed: "您的角色无权执行此操作。", wrongPassword: "用户名或密码错误。",
      tooMany: "尝试次数过多，请 {seconds} 秒后再试。", done: "已执行：{action}。", failed: "失败：{reason}",
      noHistory: "此时间段暂无历史数据", unacknowledged: "未确认：{list}",
      threshold: "报警阈值", prewarning: "预警",
      c_awaiting_first_measurement: "等待首次测量", c_insulation: "绝缘故障",
      c_insulation_prewarning: "绝缘预警", c_overload: "过载", c_overtemperature: "过温",
      c_earth_connection: "接地线断开", c_line_connection: "线路连接断开",
      c_temperature_sensor: "温度传感器故障", c_device: "设备故障", c_self_test_failed: "自检失败",
      c_communication: "通信中断", c_stale_data: "数据过时",
    },
  };
  // The users page (users.html) and the password change; the header's link to it.
  Object.assign(words.en, {
    users: "Users", account: "Password", changePassword: "Change your password",
    passwordRequired: "An administrator set your password. Choose your own before you continue.",
    currentPassword: "Current password", newPassword: "New password", repeatPassword: "New password again",
    passwordRule: "At least 8 characters.", savePassword: "Save password", passwordsDiffer: "The two new passwords differ.",
    passwordChanged: "Your password is changed.", signInFirst: "Sign in on the overview first.",
    signedOutReason: "Signed out: {reason}", role: "Role", status: "Status", addUser: "Add a user",
    initialPassword: "Initial password", initialPasswordRule: "At least 8 characters; the user must change it at first sign-in.",
    add: "Add", resetPassword: "Reset password", resetPasswordOf: "Reset the password of {name}",
    role_viewer: "viewer", role_operator: "operator", role_engineer: "engineer", role_admin: "admin",
    roleOf: "Role of {name}", disabled: "disabled", enabled: "enabled", mustChange: "must change password",
    enable: "Enable", disable: "Disable", enableUser: "Enable {name}", disableUser: "Disable {name}",
    delete: "Delete", deleteUser: "Delete {name}", confirmDelete: "Delete the user {name}? Their sessions end at once.",
    roleChanged: "{name} is now {role}.", userDisabled: "{name} is disabled and signed out.", userEnabled: "{name} is enabled.",
    userDeleted: "{name} is deleted.", userAdded: "{name} is added.", passwordReset: "The password of {name} is reset.",
  });
  Object.assign(words.de, {
    users: "Benutzer", account: "Passwort", changePassword: "Passwort ändern",
    passwordRequired: "Ein Administrator hat Ihr Passwort gesetzt. Wählen Sie ein eigenes, bevor Sie fortfahren.",
    currentPassword: "Aktuelles Passwort", newPassword: "Neues Passwort", repeatPassword: "Neues Passwort wiederholen",
    passwordRule: "Mindestens 8 Zeichen.", savePassword: "Passwort speichern", passwordsDiffer: "Die beiden neuen Passwörter unterscheiden sich.",
    passwordChanged: "Ihr Passwort ist geändert.", signInFirst: "Bitte zuerst in der Übersicht anmelden.",
    signedOutReason: "Abgemeldet: {reason}", role: "Rolle", status: "Status", addUser: "Benutzer hinzufügen",
    initialPassword: "Startpasswort", initialPasswordRule: "Mindestens 8 Zeichen; der Benutzer muss es bei der ersten Anmeldung ändern.",
    add: "Hinzufügen", resetPassword: "Passwort zurücksetzen", resetPasswordOf: "Passwort von {name} zurücksetzen",
    role_viewer: "Betrachter", role_operator: "Bediener", role_engineer: "Techniker", role_admin: "Administrator",
    roleOf: "Rolle von {name}", disabled: "gesperrt", enabled: "aktiv", mustChange: "muss Passwort ändern",
    enable: "Entsperren", disable: "Sperren", enableUser: "{name} entsperren", disableUser: "{name} sperren",
    delete: "Löschen", deleteUser: "{name} löschen", confirmDelete: "Benutzer {name} löschen? Seine Sitzungen enden sofort.",
    roleChanged: "{name} ist jetzt {role}.", userDisabled: "{name} ist gesperrt und abgemeldet.", userEnabled: "{name} ist entsperrt.",
    userDeleted: "{name} ist gelöscht.", userAdded: "{name} ist hinzugefügt.", passwordReset: "Das Passwort von {name} ist zurückgesetzt.",
  });
  Object.assign(words.zh, {
    users: "用户", account: "密码", changePassword: "修改密码",
    passwordRequired: "您的密码由管理员设置。请先设置您自己的密码再继续。",
    currentPassword: "当前密码", newPassword: "新密码", repeatPassword: "再次输入新密码",
    passwordRule: "至少 8 个字符。", savePassword: "保存密码", passwordsDiffer: "两次输入的新密码不一致。",
    passwordChanged: "密码已修改。", signInFirst: "请先在总览页登录。",
    signedOutReason: "已退出登录：{reason}", role: "角色", status: "状态", addUser: "添加用户",
    initialPassword: "初始密码", initialPasswordRule: "至少 8 个字符；用户首次登录时必须修改。",
    add: "添加", resetPassword: "重置密码", resetPasswordOf: "重置 {name} 的密码",
    role_viewer: "查看者", role_operator: "操作员", role_engineer: "工程师", role_admin: "管理员",
    roleOf: "{name} 的角色", disabled: "已停用", enabled: "已启用", mustChange: "须修改密码",
    enable: "启用", disable: "停用", enableUser: "启用 {name}", disableUser: "停用 {name}",
    delete: "删除", deleteUser: "删除 {name}", confirmDelete: "删除用户 {name}？其会话将立即结束。",
    roleChanged: "{name} 现在是{role}。", userDisabled: "{name} 已停用并退出登录。", userEnabled: "{name} 已启用。",
    userDeleted: "{name} 已删除。", userAdded: "已添加 {name}。", passwordReset: "{name} 的密码已重置。",
  });
  const supported = Object.keys(words);
  const storageKey = "isowatch.language";

  function fromBrowser() {
    for (const tag of navigator.languages || [navigator.language || "en"]) {
      const base = String(tag).toLowerCase().split("-")[0];
      if (supported.includes(base)) return base;
    }
    return "en";
  }

  let current = "en";
  try {
    const stored = localStorage.getItem(storageKey);
    current = supported.includes(stored) ? stored : fromBrowser();
  } catch (error) {
    current = fromBrowser();
  }

  function t(key, values) {
    let text = (words[current] && words[current][key]) || words.en[key] || key;
    for (const [name, value] of Object.entries(values || {})) text = text.split("{" + name + "}").join(String(value));
    return text;
  }

  function apply(root) {
    document.documentElement.lang = current;
    for (const element of (root || document).querySelectorAll("[data-i18n]")) {
      element.textContent = t(element.dataset.i18n);
    }
  }

  function set(language) {
    if (!supported.includes(language)) return;
    current = language;
    try { localStorage.setItem(storageKey, language); } catch (error) { /* private mode: this page only */ }
    apply();
    document.dispatchEvent(new CustomEvent("languagechange"));
  }

  window.I18N = { t, apply, set, get language() { return current; }, supported };
})();
