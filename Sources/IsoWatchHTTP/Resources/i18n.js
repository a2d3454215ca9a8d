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
      // The configuration page (configuration.html).
      cfg_title: "Configuration", cfg_backToDashboard: "← Dashboard", cfg_inForce: "Configuration in force",
      cfg_inForceText: "The file in force (read only)", cfg_newConfiguration: "New configuration",
      cfg_howTo: "Paste the new file or load it from disk, preview what it changes, then apply it.",
      cfg_upload: "Load a file", cfg_proposed: "New file (YAML)", cfg_comment: "Comment for the record (why)",
      cfg_preview: "Preview", cfg_apply: "Apply", cfg_history: "Change record", cfg_version: "Version",
      cfg_author: "Author", cfg_origin: "How", cfg_commentColumn: "Comment", cfg_view: "View", cfg_rollBack: "Roll back",
      cfg_viewing: "Version {id}, {time}, {author}",
      cfg_confirmRollBack: "Apply version {id} again? It is recorded as a new change.",
      cfg_signInAsEngineer: "Sign in on the dashboard as an engineer or admin to see the configuration.",
      cfg_unavailable: "Configuration changes are not available here: {reason}", cfg_noneRecorded: "No version is recorded yet.",
      cfg_versionMeta: "Version {id}, applied {time} by {author} ({origin}), SHA-256 {sha}…",
      cfg_origin_start: "file found at start", cfg_origin_sighup: "reload (SIGHUP)", cfg_origin_cli: "isowatch reload",
      cfg_origin_api: "uploaded", cfg_origin_rollback: "roll-back",
      cfg_outcome_previewed: "Valid. Applying it changes:", cfg_outcome_applied: "Applied as version {id}.",
      cfg_outcome_unchanged: "The same as the configuration in force: nothing to apply.",
      cfg_outcome_rejected: "Invalid; nothing changed:", cfg_outcome_restart_required: "Needs a restart of isowatch; nothing changed.",
      cfg_restartRequired: "Only a restart applies: {fields}", cfg_appliedLive: "Applied at once: {fields}",
      cfg_diffCaption: "Changes", cfg_item: "System", cfg_changeColumn: "Change", cfg_fields: "Fields", cfg_panel: "Panel",
      cfg_unchangedCount: "{count} unchanged", cfg_change_unchanged: "unchanged",
      cfg_change_updated: "updated in place (alarm state kept)", cfg_change_restarted: "restarted (from alarm)",
      cfg_change_added: "added (in alarm until its first measurement)", cfg_change_removed: "removed",
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
      // Die Konfigurationsseite (configuration.html).
      cfg_title: "Konfiguration", cfg_backToDashboard: "← Übersicht", cfg_inForce: "Gültige Konfiguration",
      cfg_inForceText: "Die gültige Datei (nur lesen)", cfg_newConfiguration: "Neue Konfiguration",
      cfg_howTo: "Neue Datei einfügen oder laden, die Änderungen in der Vorschau prüfen, dann übernehmen.",
      cfg_upload: "Datei laden", cfg_proposed: "Neue Datei (YAML)", cfg_comment: "Kommentar für das Protokoll (warum)",
      cfg_preview: "Vorschau", cfg_apply: "Übernehmen", cfg_history: "Änderungsprotokoll", cfg_version: "Version",
      cfg_author: "Autor", cfg_origin: "Art", cfg_commentColumn: "Kommentar", cfg_view: "Ansehen", cfg_rollBack: "Zurücksetzen",
      cfg_viewing: "Version {id}, {time}, {author}",
      cfg_confirmRollBack: "Version {id} erneut übernehmen? Das wird als neue Änderung protokolliert.",
      cfg_signInAsEngineer: "Bitte in der Übersicht als Techniker oder Administrator anmelden, um die Konfiguration zu sehen.",
      cfg_unavailable: "Konfigurationsänderungen sind hier nicht verfügbar: {reason}", cfg_noneRecorded: "Noch keine Version protokolliert.",
      cfg_versionMeta: "Version {id}, übernommen {time} von {author} ({origin}), SHA-256 {sha}…",
      cfg_origin_start: "beim Start vorgefundene Datei", cfg_origin_sighup: "neu geladen (SIGHUP)", cfg_origin_cli: "isowatch reload",
      cfg_origin_api: "hochgeladen", cfg_origin_rollback: "Zurücksetzung",
      cfg_outcome_previewed: "Gültig. Übernehmen ändert:", cfg_outcome_applied: "Als Version {id} übernommen.",
      cfg_outcome_unchanged: "Gleich der gültigen Konfiguration: nichts zu übernehmen.",
      cfg_outcome_rejected: "Ungültig; nichts geändert:", cfg_outcome_restart_required: "Erfordert einen Neustart von isowatch; nichts geändert.",
      cfg_restartRequired: "Erst ein Neustart übernimmt: {fields}", cfg_appliedLive: "Sofort übernommen: {fields}",
      cfg_diffCaption: "Änderungen", cfg_item: "System", cfg_changeColumn: "Änderung", cfg_fields: "Felder", cfg_panel: "Tableau",
      cfg_unchangedCount: "{count} unverändert", cfg_change_unchanged: "unverändert",
      cfg_change_updated: "angepasst (Alarmzustand bleibt)", cfg_change_restarted: "neu gestartet (aus Alarm)",
      cfg_change_added: "hinzugefügt (Alarm bis zur ersten Messung)", cfg_change_removed: "entfernt",
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
      // 配置页面（configuration.html）。
      cfg_title: "配置", cfg_backToDashboard: "← 总览", cfg_inForce: "当前生效的配置",
      cfg_inForceText: "当前生效的文件（只读）", cfg_newConfiguration: "新配置",
      cfg_howTo: "粘贴新文件或从磁盘载入，预览其改动，然后应用。",
      cfg_upload: "载入文件", cfg_proposed: "新文件（YAML）", cfg_comment: "变更说明（原因）",
      cfg_preview: "预览", cfg_apply: "应用", cfg_history: "变更记录", cfg_version: "版本",
      cfg_author: "变更人", cfg_origin: "方式", cfg_commentColumn: "说明", cfg_view: "查看", cfg_rollBack: "回滚",
      cfg_viewing: "版本 {id}，{time}，{author}",
      cfg_confirmRollBack: "重新应用版本 {id}？这将记录为一次新的变更。",
      cfg_signInAsEngineer: "请在总览页面以工程师或管理员身份登录以查看配置。",
      cfg_unavailable: "此处无法更改配置：{reason}", cfg_noneRecorded: "尚无已记录的版本。",
      cfg_versionMeta: "版本 {id}，{time} 由 {author} 应用（{origin}），SHA-256 {sha}…",
      cfg_origin_start: "启动时读取的文件", cfg_origin_sighup: "重新加载（SIGHUP）", cfg_origin_cli: "isowatch reload",
      cfg_origin_api: "上传", cfg_origin_rollback: "回滚",
      cfg_outcome_previewed: "有效。应用后将改变：", cfg_outcome_applied: "已应用为版本 {id}。",
      cfg_outcome_unchanged: "与当前生效的配置相同：无需应用。",
      cfg_outcome_rejected: "无效；未做任何更改：", cfg_outcome_restart_required: "需要重启 isowatch；未做任何更改。",
      cfg_restartRequired: "仅在重启后生效：{fields}", cfg_appliedLive: "立即生效：{fields}",
      cfg_diffCaption: "变更", cfg_item: "系统", cfg_changeColumn: "变更", cfg_fields: "字段", cfg_panel: "面板",
      cfg_unchangedCount: "{count} 个未变", cfg_change_unchanged: "未变",
      cfg_change_updated: "就地更新（保持报警状态）", cfg_change_restarted: "重启（从报警状态开始）",
      cfg_change_added: "新增（首次测量前处于报警）", cfg_change_removed: "已移除",
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
