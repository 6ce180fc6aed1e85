/* Settings: pool settings (proxy + test, media links, default model, cooldowns, daily quotas), import / export,
   API keys and their limits. */
(function () {
  "use strict";
  var gp = window.gp, el = gp.el;
  var NUMBERS = ["cooldown_base_seconds", "cooldown_max_seconds", "unavailable_rest_seconds", "daily_text_quota",
    "daily_image_quota", "daily_video_quota"];
  var KEY_LIMITS = ["rate_limit_per_minute", "daily_request_budget", "daily_token_budget", "max_concurrent_requests"];
  var keyEditing = null, quotaReset = null;

  /* ---- pool settings ---------------------------------------------------------------------- */

  function fillSettings(config) {
    var form = document.getElementById("settings-form");
    form.elements.proxy.value = "";
    form.elements.proxy.placeholder = config.proxy || "http://host:port, socks5://user:pass@host:port";
    document.getElementById("proxy-hint").textContent = config.proxy
      ? "Stored: " + config.proxy + ". Leave blank to keep it; type to replace it." : "No proxy stored.";
    form.elements.proxy_enabled.checked = config.proxy_enabled;
    form.elements.proxy_clear.checked = false;
    form.elements.proxy_clear.closest("label").hidden = !config.proxy;
    form.elements.proxy_test_url.value = config.proxy_test_url;
    document.getElementById("proxy-changed").textContent = config.proxy_changed_by
      ? "Proxy last changed by " + config.proxy_changed_by + " at " + new Date(config.proxy_changed_at).toLocaleString() : "";
    form.elements.image_base_url.value = config.image_base_url;
    form.elements.default_model.value = config.default_model;
    NUMBERS.forEach(function (name) { form.elements[name].value = config[name]; });
    quotaReset = config.quota_reset;
    document.getElementById("quota-reset").textContent = resetSentence();
    var chip = document.getElementById("proxy-chip");
    chip.textContent = config.proxy_enabled && config.proxy ? "In use" : config.proxy ? "Stored, off" : "Direct";
    chip.className = "chip" + (config.proxy_enabled && config.proxy ? " chip-on" : "");
    // Disabled until the stored settings are in: typing earlier would be overwritten, and saving a form
    // that never loaded would write its blanks over the stored values.
    document.getElementById("settings-fields").disabled = false;
  }

  function settingsBody(form) {
    var body = {
      proxy_enabled: form.elements.proxy_enabled.checked,
      image_base_url: form.elements.image_base_url.value.trim(),
      default_model: form.elements.default_model.value.trim()
    };
    var proxy = form.elements.proxy.value.trim();
    if (proxy) { body.proxy = proxy; } else if (form.elements.proxy_clear.checked) { body.proxy = ""; }
    NUMBERS.forEach(function (name) {
      var raw = form.elements[name].value.trim();
      if (raw !== "") { body[name] = Number(raw); }
    });
    return body;
  }

  function saveSettings(event) {
    event.preventDefault();
    var form = event.target, button = document.getElementById("settings-save");
    gp.busy(button, true);
    gp.api("PUT", "/api/config", settingsBody(form)).then(function (config) {
      gp.busy(button, false);
      gp.clearErrors(form);
      fillSettings(config);
      gp.toast("Settings saved", "ok");
    }, function (err) { gp.busy(button, false); gp.showErrors(form, err); });
  }

  function showTestResult(result, when) {
    var out = document.getElementById("proxy-test-result");
    var how = result.via === "proxy" ? "through the proxy" : result.via === "direct" ? "directly" : "";
    out.className = "test-result " + (result.reachable ? "ok" : "fail");
    // A failure is the server's own sentence; the technical text behind it sits in a collapsed "Details".
    gp.clear(out).appendChild(document.createTextNode((when ? "Last test " + when + ": " : "") + (result.reachable
      ? ["Reachable", how, "in " + result.latency_ms + " ms", result.status_code ? "(HTTP " + result.status_code + ")" : ""].join(" ").replace(/ +/g, " ").trim() + "."
      : result.error)));
    if (!result.reachable && result.detail) {
      out.appendChild(el("details", { class: "test-detail" }, [el("summary", { text: "Details" }), el("code", { text: result.detail })]));
    }
  }

  function testProxy() {
    var form = document.getElementById("settings-form"), button = document.getElementById("proxy-test");
    var body = {};
    var candidate = form.elements.proxy.value.trim();
    if (candidate) { body.proxy = candidate; }  // try what was typed before saving it
    var out = document.getElementById("proxy-test-result");
    out.className = "test-result";
    out.textContent = "Testing…";
    gp.busy(button, true);
    gp.api("POST", "/api/proxy/test", body).then(function (result) {
      gp.busy(button, false);
      showTestResult(result);
    }, function (err) { gp.busy(button, false); out.textContent = ""; gp.showErrors(form, err); });
  }

  /* ---- import ------------------------------------------------------------------------------ */

  function importConfig(event) {
    event.preventDefault();
    var input = document.getElementById("import-file"), out = gp.clear(document.getElementById("import-result"));
    if (!input.files.length) { out.appendChild(el("p", { class: "alert alert-error", text: "Choose a file first." })); return; }
    var data = new FormData();
    data.append("file", input.files[0]);
    var dry = document.getElementById("import-dry-run").checked;
    var button = document.getElementById("import-submit");
    gp.busy(button, true);
    gp.api("POST", "/api/config/import" + (dry ? "?dry_run=1" : ""), data).then(function (summary) {
      gp.busy(button, false);
      out.appendChild(el("p", { class: "alert alert-ok", text: summary.message }));
      if (!dry) { gp.toast("Configuration imported", "ok"); loadSettings(); }
    }, function (err) {
      gp.busy(button, false);
      var box = el("div", { class: "alert alert-error", role: "alert" }, [
        el("strong", { text: err.problems.length ? "Nothing was imported. Problems found:" : err.message })
      ]);
      if (err.problems.length) {
        box.appendChild(el("ul", {}, err.problems.map(function (p) { return el("li", { text: p }); })));
      }
      out.appendChild(box);
    });
  }

  /* ---- API keys ----------------------------------------------------------------------------- */

  function resetSentence() {
    if (!quotaReset) { return ""; }
    return "Daily quotas and key budgets start again at " + String(quotaReset.hour).padStart(2, "0") + ":00 " +
      quotaReset.timezone + " (next: " + gp.dateTime(quotaReset.next_reset_at) +
      "; GEMPOOL_QUOTA_RESET_HOUR and GEMPOOL_QUOTA_TIMEZONE).";
  }

  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  function limitsText(key) {
    var parts = [key.rate_limit_per_minute === null ? "default rate" : key.rate_limit_per_minute ? key.rate_limit_per_minute + "/min" : "no rate limit"];
    if (key.daily_request_budget !== null) { parts.push(plural(key.daily_request_budget, "request", "requests") + "/day"); }
    if (key.daily_token_budget !== null) { parts.push(key.daily_token_budget.toLocaleString() + " tokens/day"); }
    if (key.max_concurrent_requests !== null) { parts.push(key.max_concurrent_requests + " at once"); }
    if (key.allowed_models.length) { parts.push(plural(key.allowed_models.length, "model", "models")); }
    if (key.expires_at) { parts.push((key.expired ? "expired " : "expires ") + gp.dateTime(key.expires_at)); }
    return parts.join(" · ");
  }

  function todayText(key) {
    var u = key.usage_today, parts = [];
    if (key.daily_request_budget !== null) { parts.push(u.requests + "/" + key.daily_request_budget + " requests"); }
    if (key.daily_token_budget !== null) { parts.push(u.tokens.toLocaleString() + "/" + key.daily_token_budget.toLocaleString() + " tokens"); }
    if (key.max_concurrent_requests !== null) { parts.push(u.in_flight + " running"); }
    return parts.join(" · ") || "—";
  }

  function keyState(key) {
    if (key.revoked) { return gp.badge("disabled", "revoked"); }
    return key.expired ? gp.badge("needs_attention", "expired") : gp.badge("active", "live");
  }

  function keyRow(key) {
    return el("tr", { data: { id: String(key.id) } }, [
      el("td", { class: "primary-cell cell-title", data: { label: "Name" }, text: key.name }),
      el("td", { data: { label: "Key" } }, [el("code", { text: key.prefix + "…" })]),
      el("td", { data: { label: "Scope" }, text: key.is_admin ? "admin + chat" : "chat" }),
      el("td", { data: { label: "Limits" }, text: limitsText(key) }),
      el("td", { data: { label: "Today" }, text: todayText(key) }),
      el("td", { data: { label: "Created" }, text: gp.dateTime(key.created_at) }),
      el("td", { data: { label: "Last used" }, text: gp.ago(key.last_used_at) }),
      el("td", { data: { label: "State" } }, [keyState(key)]),
      el("td", { class: "actions-cell" }, [key.revoked ? null : el("div", { class: "row-actions" }, [
        el("button", { type: "button", class: "btn btn-text btn-small", text: "Limits", on: { click: function () { openKeyDialog(key); } } }),
        el("button", { type: "button", class: "btn btn-text btn-small", text: "Revoke", on: { click: function () { revokeKey(key); } } })
      ])])
    ]);
  }

  function loadKeys() {
    return gp.api("GET", "/api/keys").then(function (keys) {
      var body = gp.clear(document.querySelector("#keys-table tbody"));
      keys.forEach(function (k) { body.appendChild(keyRow(k)); });
      document.getElementById("keys-empty").hidden = keys.length > 0;
    });
  }

  function createKey(event) {
    event.preventDefault();
    var form = event.target, button = document.getElementById("key-create");
    var body = { name: form.elements.name.value.trim(), is_admin: form.elements.is_admin.checked };
    var limit = form.elements.rate_limit_per_minute.value.trim();
    if (limit !== "") { body.rate_limit_per_minute = Number(limit); }
    gp.busy(button, true);
    gp.api("POST", "/api/keys", body).then(function (created) {
      gp.busy(button, false);
      gp.clearErrors(form);
      form.reset();
      document.getElementById("new-key-value").textContent = created.key;
      document.getElementById("new-key").hidden = false;
      loadKeys();
    }, function (err) { gp.busy(button, false); gp.showErrors(form, err); });
  }

  function revokeKey(key) {
    gp.api("POST", "/api/keys/" + key.id + "/revoke").then(function () {
      gp.toast("Revoked " + key.name, "ok");
      loadKeys();
    }, function (err) { gp.toast(err.message, "error"); });
  }

  function localInput(iso) {
    if (!iso) { return ""; }
    var d = new Date(iso), pad = function (n) { return String(n).padStart(2, "0"); };
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }

  function openKeyDialog(key) {
    var form = document.getElementById("key-limits-form");
    keyEditing = key;
    form.reset();
    gp.clearErrors(form);
    document.getElementById("key-dialog-title").textContent = "Limits of " + key.name;
    form.elements.name.value = key.name;
    KEY_LIMITS.forEach(function (name) { form.elements[name].value = key[name] === null ? "" : key[name]; });
    form.elements.expires_at.value = localInput(key.expires_at);
    document.getElementById("key-dialog-reset").textContent = resetSentence();
    var list = gp.clear(document.getElementById("key-models"));
    gp.api("GET", "/api/models").then(function (models) {
      models.forEach(function (model) {
        list.appendChild(el("label", { class: "field-check" }, [
          el("input", { type: "checkbox", name: "allowed_models", value: model.id, checked: key.allowed_models.indexOf(model.id) >= 0 }),
          el("span", { text: model.id })
        ]));
      });
    }, function (err) { list.appendChild(el("p", { class: "alert alert-error", text: err.message })); });
    document.getElementById("key-dialog").showModal();
    form.elements.name.focus();
  }

  function keyLimitsBody(form) {
    var body = { name: form.elements.name.value.trim() };
    KEY_LIMITS.forEach(function (name) {
      var raw = form.elements[name].value.trim();
      body[name] = raw === "" ? null : Number(raw);  // blank clears the limit
    });
    var expires = form.elements.expires_at.value;
    body.expires_at = expires ? new Date(expires).toISOString() : null;
    body.allowed_models = Array.prototype.filter.call(form.querySelectorAll('input[name="allowed_models"]'),
      function (box) { return box.checked; }).map(function (box) { return box.value; });
    return body;
  }

  function saveKeyLimits(event) {
    event.preventDefault();
    var form = event.target, button = document.getElementById("key-limits-save");
    gp.busy(button, true);
    gp.api("PATCH", "/api/keys/" + keyEditing.id, keyLimitsBody(form)).then(function (key) {
      gp.busy(button, false);
      document.getElementById("key-dialog").close();
      gp.toast("Saved the limits of " + key.name, "ok");
      loadKeys();
    }, function (err) { gp.busy(button, false); gp.showErrors(form, err); });
  }

  function copyKey() {
    var text = document.getElementById("new-key-value").textContent;
    if (navigator.clipboard) {
      navigator.clipboard.writeText(text).then(function () { gp.toast("Copied", "ok"); }, function () { gp.toast("Select the key and copy it", "error"); });
    }
  }

  function loadSettings() {
    return gp.api("GET", "/api/config").then(fillSettings);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.getElementById("settings-form").addEventListener("submit", saveSettings);
    document.getElementById("proxy-test").addEventListener("click", testProxy);
    document.getElementById("import-form").addEventListener("submit", importConfig);
    document.getElementById("key-form").addEventListener("submit", createKey);
    document.getElementById("key-limits-form").addEventListener("submit", saveKeyLimits);
    document.getElementById("new-key-copy").addEventListener("click", copyKey);
    document.getElementById("new-key-hide").addEventListener("click", function () {
      document.getElementById("new-key").hidden = true;
      document.getElementById("new-key-value").textContent = "";
    });
    gp.api("GET", "/api/proxy/status").then(function (status) {
      var t = status.last_test;
      if (t) { showTestResult({ reachable: t.reachable, latency_ms: t.latency_ms, error: t.error }, gp.ago(t.at)); }
    });
    Promise.all([loadSettings(), loadKeys()]).catch(function (err) { gp.toast(err.message, "error"); });
  });
})();
