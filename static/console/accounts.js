/* Accounts: live table (status, cooldown countdown, last error), add/edit dialog, toggle, test, delete. */
(function () {
  "use strict";
  var gp = window.gp, el = gp.el;
  var REFRESH_MS = 4000;
  var SECRETS = ["secure_c_ses", "host_c_oses", "proxy_url"];
  var QUOTAS = ["text", "image", "video"];
  var accounts = [], loadedAt = 0, editing = null, testing = {};

  function matches(account, filter) {
    if (!filter) { return true; }
    var hay = [account.display_name, account.team_id, account.csesidx, account.status].join(" ").toLowerCase();
    return hay.indexOf(filter) >= 0;
  }

  function cooldownCell(account) {
    var remaining = account.cooldown_remaining - (Date.now() - loadedAt) / 1000;
    if (account.status !== "cooling_down" || remaining <= 0) { return el("span", { class: "nil", text: "—" }); }
    return el("span", { class: "countdown", data: { until: String(Date.now() + remaining * 1000) }, text: gp.duration(remaining) });
  }

  function span(seconds) {
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60);
    if (h) { return h + " h " + m + " min"; }
    return m ? m + " min" : Math.max(1, Math.floor(seconds)) + " s";
  }

  function loginCell(account) {
    if (account.login_expires_in === null || account.login_expires_in === undefined) {
      return el("span", { class: "nil", text: "—" });
    }
    var remaining = account.login_expires_in - (Date.now() - loadedAt) / 1000;
    if (remaining <= 0) { return el("span", { class: "login-expired", text: "expired " + gp.ago(account.login_expires_at) }); }
    return el("span", { class: "login-expiry" + (remaining < 7200 ? " login-soon" : ""), title: gp.dateTime(account.login_expires_at),
      text: "expires in " + span(remaining) });
  }

  function errorCell(account) {
    var e = account.last_error;
    if (!e) { return el("span", { class: "nil", text: "—" }); }
    return el("div", { class: "cell-error", title: e.message }, [
      el("div", { class: "kind", text: e.kind.replace(/_/g, " ") + " · " + gp.ago(e.at) }),
      el("div", { class: "msg", text: e.message })
    ]);
  }

  // Today's use per kind against the quota in force ("2/2" for a used-up kind, which rests until the reset).
  function todayCell(account) {
    var today = account.quota_today || {};
    var parts = QUOTAS.map(function (kind) {
      var q = today[kind];
      if (!q || (!q.used && !q.quota)) { return null; }
      var text = kind + " " + q.used + (q.quota ? "/" + q.quota : "");
      return el("div", { class: q.exhausted_until ? "quota quota-out" : "quota",
        title: q.exhausted_until ? kind + " used up until " + gp.dateTime(q.exhausted_until) : "", text: q.exhausted_until ? text + " · used up" : text });
    }).filter(Boolean);
    return parts.length ? el("div", { class: "cell-quota" }, parts) : el("span", { class: "nil", text: "—" });
  }

  function actions(account) {
    var toggle = el("label", { class: "switch", title: account.enabled ? "Disable" : "Enable" }, [
      el("input", { type: "checkbox", checked: account.enabled, "aria-label": (account.enabled ? "Disable " : "Enable ") + account.display_name,
        data: { action: "toggle" }, on: { change: function () { toggleAccount(account, this); } } }),
      el("span", { class: "track" })
    ]);
    return el("div", { class: "row-actions" }, [
      el("button", { type: "button", class: "btn btn-text btn-small" + (testing[account.id] ? " busy" : ""), disabled: !!testing[account.id],
        data: { action: "test" }, text: "Test", on: { click: function () { testAccount(account, this); } } }),
      el("button", { type: "button", class: "btn btn-text btn-small", data: { action: "paste" }, text: "Paste cookies",
        on: { click: function () { openPaste(account); } } }),
      el("button", { type: "button", class: "btn btn-text btn-small", data: { action: "edit" }, text: "Edit",
        on: { click: function () { openDialog(account); } } }),
      el("button", { type: "button", class: "btn btn-text btn-small", data: { action: "delete" }, text: "Delete",
        on: { click: function () { deleteAccount(account); } } }),
      toggle
    ]);
  }

  function row(account) {
    return el("tr", { data: { id: String(account.id) } }, [
      el("td", { class: "primary-cell", data: { label: "Account" } }, [
        el("div", { class: "cell-title", text: account.display_name }),
        el("div", { class: "cell-sub", text: account.team_id + " · " + account.csesidx })
      ]),
      el("td", { data: { label: "Status" } }, [gp.badge(account.status, account.status_display)]),
      el("td", { data: { label: "Cooldown" } }, [cooldownCell(account)]),
      el("td", { class: "nowrap", data: { label: "Login" } }, [loginCell(account)]),
      el("td", { data: { label: "Last error" } }, [errorCell(account)]),
      el("td", { class: "num", data: { label: "Requests (24 h)" }, text: account.last_24h.requests }),
      el("td", { class: "num", data: { label: "Errors (24 h)" }, text: account.last_24h.errors }),
      el("td", { class: "num nowrap", data: { label: "Latency (24 h)" },
        text: account.last_24h.latency_ms_avg === null ? "—" : account.last_24h.latency_ms_avg + " ms" }),
      el("td", { data: { label: "Today" } }, [todayCell(account)]),
      el("td", { class: "nowrap", data: { label: "Last used" }, text: gp.ago(account.last_used_at) }),
      el("td", { class: "actions-cell" }, [actions(account)])
    ]);
  }

  function render() {
    // The live refresh rebuilds the rows; keep keyboard focus on the same control of the same account.
    var focused = document.activeElement, row0 = focused && focused.closest ? focused.closest("tr[data-id]") : null;
    var restore = row0 && focused.dataset.action ? [row0.dataset.id, focused.dataset.action] : null;
    renderRows();
    if (restore) {
      var again = document.querySelector('#accounts-table tr[data-id="' + restore[0] + '"] [data-action="' + restore[1] + '"]');
      if (again) { again.focus(); }
    }
  }

  function renderRows() {
    var filter = document.getElementById("account-filter").value.trim().toLowerCase();
    var body = gp.clear(document.querySelector("#accounts-table tbody"));
    var shown = accounts.filter(function (a) { return matches(a, filter); });
    shown.forEach(function (a) { body.appendChild(row(a)); });
    document.getElementById("accounts-empty").hidden = accounts.length > 0;
    document.getElementById("account-count").textContent = shown.length === accounts.length
      ? accounts.length + " account" + (accounts.length === 1 ? "" : "s") : shown.length + " of " + accounts.length;
  }

  function load() {
    return gp.api("GET", "/api/accounts").then(function (data) {
      accounts = data;
      loadedAt = Date.now();
      render();
    });
  }

  function tickCountdowns() {
    document.querySelectorAll(".countdown[data-until]").forEach(function (node) {
      var remaining = (Number(node.dataset.until) - Date.now()) / 1000;
      node.textContent = remaining > 0 ? gp.duration(remaining) : "ending…";
    });
  }

  function replace(account) {
    accounts = accounts.map(function (a) { return a.id === account.id ? account : a; });
    loadedAt = Date.now();
    render();
  }

  function toggleAccount(account, input) {
    input.disabled = true;
    gp.api("POST", "/api/accounts/" + account.id + "/toggle").then(function (updated) {
      replace(updated);
      gp.toast(updated.display_name + (updated.enabled ? " enabled" : " disabled"), "ok");
    }, function (err) { input.checked = account.enabled; input.disabled = false; gp.toast(err.message, "error"); });
  }

  function testAccount(account, button) {
    testing[account.id] = true;
    gp.busy(button, true);
    gp.api("POST", "/api/accounts/" + account.id + "/test", {}).then(function (result) {
      delete testing[account.id];
      replace(result.account);
      if (result.ok) { gp.toast("Test passed for " + account.display_name + " in " + result.latency_ms + " ms", "ok"); }
      else { gp.toast("Test failed (" + result.error.kind.replace(/_/g, " ") + "): " + result.error.message, "error"); }
    }, function (err) {
      delete testing[account.id];
      gp.busy(button, false);
      gp.toast(err.message, "error");
    });
  }

  function deleteAccount(account) {
    gp.confirm("Delete " + account.display_name + "?", "The account and its cookies are removed from the pool. Its past requests stay in the dashboard totals.")
      .then(function (ok) {
        if (!ok) { return; }
        gp.api("DELETE", "/api/accounts/" + account.id).then(function () {
          accounts = accounts.filter(function (a) { return a.id !== account.id; });
          render();
          gp.toast("Deleted " + account.display_name, "ok");
        }, function (err) { gp.toast(err.message, "error"); });
      });
  }

  /* ---- dialog ---------------------------------------------------------------------------- */

  function openDialog(account) {
    var form = document.getElementById("account-form");
    editing = account || null;
    form.reset();
    gp.clearErrors(form);
    document.getElementById("account-dialog-title").textContent = account ? "Edit " + account.display_name : "Add account";
    ["label", "team_id", "csesidx", "user_agent"].forEach(function (name) { form.elements[name].value = account ? account[name] : ""; });
    form.elements.enabled.checked = account ? account.enabled : true;
    QUOTAS.forEach(function (kind) {
      var value = account ? account["daily_" + kind + "_quota"] : null;
      form.elements["daily_" + kind + "_quota"].value = value === null || value === undefined ? "" : value;
    });
    SECRETS.forEach(function (name) {
      var hint = form.querySelector('[data-hint="' + name + '"]');
      form.elements[name].value = "";
      form.elements[name].placeholder = account && account[name] ? "Stored — leave blank to keep" : (name === "proxy_url" ? "Blank: use the pool's proxy setting" : "");
      hint.textContent = account && account[name] ? "Stored: " + account[name] : "";
    });
    form.querySelector('[data-secret-note="secure_c_ses"]').textContent = account ? "" : "*";
    loadLogin(form, account);
    document.getElementById("account-dialog").showModal();
    form.elements[account ? "label" : "team_id"].focus();
  }

  function formBody(form) {
    var body = { enabled: form.elements.enabled.checked };
    QUOTAS.forEach(function (kind) {
      var raw = form.elements["daily_" + kind + "_quota"].value.trim();
      body["daily_" + kind + "_quota"] = raw === "" ? null : Number(raw);  // blank: back to the pool's
    });
    ["label", "team_id", "csesidx", "user_agent"].forEach(function (name) { body[name] = form.elements[name].value.trim(); });
    SECRETS.forEach(function (name) {
      var value = form.elements[name].value.trim();
      // Blank while editing means "keep the stored secret": leave the field out of the PUT.
      if (value || !editing) { body[name] = value; }
    });
    return body;
  }

  /* The login address and mailbox live in their own resource (/api/accounts/<id>/login). */
  var loginBefore = null;

  function loadLogin(form, account) {
    var select = form.elements.login_mailbox;
    loginBefore = null;
    form.elements.login_email.value = "";
    gp.api("GET", "/api/mailboxes").then(function (boxes) {
      gp.clear(select).appendChild(el("option", { value: "", text: "None" }));
      boxes.forEach(function (box) { select.appendChild(el("option", { value: String(box.id), text: box.name + " (" + box.username + ")" })); });
      if (!account) { return null; }
      return gp.api("GET", "/api/accounts/" + account.id + "/login").then(function (login) {
        loginBefore = login;
        form.elements.login_email.value = login.email;
        select.value = login.mailbox === null ? "" : String(login.mailbox);
      }, function (err) { if (err.status !== 404) { throw err; } });
    }).catch(function (err) { gp.toast(err.message, "error"); });
  }

  function saveLogin(form, account) {
    var email = form.elements.login_email.value.trim(), mailbox = form.elements.login_mailbox.value;
    var unchanged = loginBefore ? (email === loginBefore.email && mailbox === (loginBefore.mailbox === null ? "" : String(loginBefore.mailbox)))
      : (!email && !mailbox);
    if (unchanged) { return Promise.resolve(); }
    return gp.api("PUT", "/api/accounts/" + account.id + "/login", { email: email, mailbox: mailbox ? Number(mailbox) : null });
  }

  function save(event) {
    event.preventDefault();
    var form = event.target, button = document.getElementById("account-save");
    var request = editing ? gp.api("PUT", "/api/accounts/" + editing.id, formBody(form)) : gp.api("POST", "/api/accounts", formBody(form));
    gp.busy(button, true);
    request.then(function (account) {
      return saveLogin(form, account).then(function () {
        gp.busy(button, false);
        document.getElementById("account-dialog").close();
        gp.toast((editing ? "Saved " : "Added ") + account.display_name, "ok");
        return load();
      }, function (err) {
        // The account is saved; only its login settings were refused: keep the dialog open on them.
        editing = account;
        gp.busy(button, false);
        gp.showErrors(form, err);
      });
    }, function (err) { gp.busy(button, false); gp.showErrors(form, err); });
  }

  /* ---- paste cookies: a manual refresh in seconds ------------------------------------------ */

  var pasting = null;

  function openPaste(account) {
    var form = document.getElementById("paste-form");
    pasting = account;
    form.reset();
    gp.clearErrors(form);
    document.getElementById("paste-dialog-title").textContent = "Paste cookies for " + account.display_name;
    document.getElementById("paste-dialog").showModal();
    form.elements.cookies.focus();
  }

  function submitPaste(event) {
    event.preventDefault();
    var form = event.target, button = document.getElementById("paste-save");
    var body = { cookies: form.elements.cookies.value, url: form.elements.url.value.trim() };
    gp.busy(button, true);
    gp.api("POST", "/api/accounts/" + pasting.id + "/cookies", body).then(function (result) {
      gp.busy(button, false);
      document.getElementById("paste-dialog").close();
      replace(result.account);
      if (result.ok) { gp.toast("New login saved and tested for " + result.account.display_name + " in " + result.latency_ms + " ms", "ok"); }
      else { gp.toast("Saved, but the test failed (" + result.error.kind.replace(/_/g, " ") + "): " + result.error.message, "error"); }
    }, function (err) { gp.busy(button, false); gp.showErrors(form, err); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.getElementById("add-account").addEventListener("click", function () { openDialog(null); });
    document.getElementById("paste-form").addEventListener("submit", submitPaste);
    document.getElementById("account-form").addEventListener("submit", save);
    document.getElementById("account-filter").addEventListener("input", render);
    gp.poll(load, REFRESH_MS);
    setInterval(tickCountdowns, 1000);
  });
})();
