/* Accounts: a server-paginated, sortable, filterable table (state in the URL query), a bulk action bar over the
   selected rows, the add/edit dialog, and per-row toggle, test, paste cookies and delete. */
(function () {
  "use strict";
  var gp = window.gp, el = gp.el;
  var REFRESH_MS = 4000;
  var SECRETS = ["secure_c_ses", "host_c_oses", "proxy_url"];
  var QUOTAS = ["text", "image", "video"];
  var PAGE_SIZES = [25, 50, 100, 200], DEFAULT_PAGE_SIZE = 50;
  var BULK_TEST_CHUNK = 50;  // the server tests at most this many accounts per call
  // Columns whose first click sorts the biggest / most recent first.
  var DESCENDING_FIRST = { requests: true, errors: true, last_used: true };
  var BULK_DONE = { enable: "Enabled", disable: "Disabled", test: "Tested", clear_cooldown: "Cleared the cooldown of", delete: "Deleted" };
  var accounts = [], total = 0, loadedAt = 0, editing = null, testing = {}, selected = {};
  var state = readState(), searchTimer = null;

  function plural(n, one, many) { return gp.plural(n, one, many); }

  /* ---- list state <-> URL query --------------------------------------------------------------- */

  function readState() {
    var q = new URLSearchParams(window.location.search);
    var size = Number(q.get("page_size"));
    return {
      page: Math.max(1, parseInt(q.get("page"), 10) || 1),
      pageSize: PAGE_SIZES.indexOf(size) >= 0 ? size : DEFAULT_PAGE_SIZE,
      ordering: q.get("ordering") || "",
      status: q.get("status") || "",
      search: q.get("search") || ""
    };
  }

  function writeState() {
    var q = new URLSearchParams();
    if (state.search) { q.set("search", state.search); }
    if (state.status) { q.set("status", state.status); }
    if (state.ordering) { q.set("ordering", state.ordering); }
    if (state.page > 1) { q.set("page", String(state.page)); }
    if (state.pageSize !== DEFAULT_PAGE_SIZE) { q.set("page_size", String(state.pageSize)); }
    var query = q.toString();
    window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
  }

  function apiQuery() {
    var q = new URLSearchParams({ page: String(state.page), page_size: String(state.pageSize) });
    if (state.search) { q.set("search", state.search); }
    if (state.status) { q.set("status", state.status); }
    if (state.ordering) { q.set("ordering", state.ordering); }
    return "/api/accounts?" + q.toString();
  }

  function filtered() { return !!(state.search || state.status); }

  /* A new view of the list: back to page 1 unless told otherwise, a fresh selection, reload now. */
  function changeState(changes) {
    Object.keys(changes).forEach(function (key) { state[key] = changes[key]; });
    if (!("page" in changes)) { state.page = 1; }
    selected = {};
    writeState();
    return load();
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
    var checked = !!selected[account.id];
    return el("tr", { class: checked ? "acct-selected" : null, data: { id: String(account.id) } }, [
      el("td", { class: "acct-check" }, [
        el("input", { type: "checkbox", checked: checked, "aria-label": "Select " + account.display_name,
          data: { action: "select" }, on: { change: function () { select(account.id, this.checked); } } })
      ]),
      el("td", { class: "primary-cell", data: { label: "Account" } }, [
        el("div", { class: "cell-title", title: account.display_name, text: account.display_name }),
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
      el("td", { class: "actions-cell acct-actions-cell" }, [actions(account)])
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
    var body = gp.clear(document.querySelector("#accounts-table tbody"));
    accounts.forEach(function (a) { body.appendChild(row(a)); });
    var emptyPool = total === 0 && !filtered();
    document.getElementById("accounts-empty").hidden = !emptyPool;
    document.getElementById("accounts-no-match").hidden = !(total === 0 && filtered());
    document.getElementById("accounts-scroll").hidden = total === 0;
    document.getElementById("accounts-pager").hidden = total === 0;
    document.getElementById("account-count").textContent = filtered()
      ? plural(total, "account matches", "accounts match") : plural(total, "account");
    renderSortHeaders();
    renderPager();
    renderSelection();
  }

  function renderSortHeaders() {
    var key = state.ordering.replace(/^-/, ""), descending = state.ordering.charAt(0) === "-";
    document.querySelectorAll("#accounts-table th[data-sort]").forEach(function (th) {
      th.setAttribute("aria-sort", th.dataset.sort === key ? (descending ? "descending" : "ascending") : "none");
    });
  }

  function renderPager() {
    var pages = Math.max(1, Math.ceil(total / state.pageSize));
    var first = total ? (state.page - 1) * state.pageSize + 1 : 0, last = Math.min(total, state.page * state.pageSize);
    document.getElementById("page-info").textContent = first + "–" + last + " of " + plural(total, "account") +
      " · page " + state.page + " of " + pages;
    document.getElementById("page-prev").disabled = state.page <= 1;
    document.getElementById("page-next").disabled = state.page >= pages;
    document.getElementById("page-size").value = String(state.pageSize);
  }

  function selectedIds() {
    return Object.keys(selected).map(Number);
  }

  function renderSelection() {
    var ids = selectedIds(), onPage = accounts.filter(function (a) { return selected[a.id]; }).length;
    var all = document.getElementById("select-all");
    all.checked = accounts.length > 0 && onPage === accounts.length;
    all.indeterminate = onPage > 0 && onPage < accounts.length;
    document.getElementById("bulk-bar").hidden = ids.length === 0;
    document.getElementById("bulk-count").textContent = plural(ids.length, "account") + " selected";
  }

  function select(id, on) {
    if (on) { selected[id] = true; } else { delete selected[id]; }
    var tr = document.querySelector('#accounts-table tr[data-id="' + id + '"]');
    if (tr) { tr.classList.toggle("acct-selected", on); }
    renderSelection();
  }

  function selectAll(on) {
    accounts.forEach(function (a) { if (on) { selected[a.id] = true; } else { delete selected[a.id]; } });
    render();
  }

  function load() {
    return gp.api("GET", apiQuery()).then(function (data) {
      accounts = data.results;
      total = data.count;
      loadedAt = Date.now();
      // Forget selected accounts that left this page (deleted, filtered out).
      var here = {};
      accounts.forEach(function (a) { here[a.id] = true; });
      Object.keys(selected).forEach(function (id) { if (!here[id]) { delete selected[id]; } });
      render();
    }, function (err) {
      if (err.status === 404 && state.page > 1) { return changeState({ page: 1 }); }  // past the end: the list shrank
      if (err.status === 400) { gp.toast(err.message, "error"); return changeState({ ordering: "", status: "", search: "" }); }
      throw err;
    });
  }

  function sortBy(key) {
    var current = state.ordering.replace(/^-/, "");
    var ordering = current === key ? (state.ordering.charAt(0) === "-" ? key : "-" + key) : (DESCENDING_FIRST[key] ? "-" + key : key);
    changeState({ ordering: ordering });
  }

  /* ---- bulk actions ----------------------------------------------------------------------------- */

  function bulk(action) {
    var ids = selectedIds();
    if (!ids.length) { return; }
    if (action !== "delete") { runBulk(action, ids); return; }
    gp.confirm("Delete " + plural(ids.length, "account") + "?",
      "The selected accounts and their cookies are removed from the pool. Their past requests stay in the dashboard totals.")
      .then(function (ok) { if (ok) { runBulk(action, ids); } });
  }

  function runBulk(action, ids) {
    var buttons = document.querySelectorAll("#bulk-bar button");
    var trigger = document.querySelector('#bulk-bar [data-bulk="' + action + '"]');
    var chunks = [], size = action === "test" ? BULK_TEST_CHUNK : ids.length, results = [];
    for (var i = 0; i < ids.length; i += size) { chunks.push(ids.slice(i, i + size)); }
    buttons.forEach(function (b) { b.disabled = true; });
    gp.busy(trigger, true);
    var chain = chunks.reduce(function (promise, chunk) {
      return promise.then(function () {
        return gp.api("POST", "/api/accounts/bulk", { action: action, ids: chunk }).then(function (out) { results = results.concat(out.results); });
      });
    }, Promise.resolve());
    return chain.then(function () {
      bulkReport(action, results);
      selected = {};
    }, function (err) { gp.toast(err.message, "error"); }).then(function () {
      buttons.forEach(function (b) { b.disabled = false; });
      gp.busy(trigger, false);
      return load();
    });
  }

  function bulkReport(action, results) {
    var missing = results.filter(function (r) { return r.error && r.error.code === "not_found"; }).length;
    var done = results.length - missing, passed = results.filter(function (r) { return r.ok; }).length, text;
    if (action === "test") {
      text = "Tested " + plural(done, "account") + ": " + passed + " passed, " + (done - passed) + " failed";
    } else {
      text = BULK_DONE[action] + " " + plural(done, "account");
    }
    if (missing) { text += "; " + plural(missing, "account was", "accounts were") + " already gone"; }
    gp.toast(text + ".", action === "test" && passed < done ? "error" : "ok");
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
          delete selected[account.id];
          gp.toast("Deleted " + account.display_name, "ok");
          return load();
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

  function wireList() {
    var search = document.getElementById("account-filter"), status = document.getElementById("account-status");
    search.value = state.search;
    status.value = state.status;
    search.addEventListener("input", function () {
      clearTimeout(searchTimer);  // one request once typing pauses, not one per key
      searchTimer = setTimeout(function () { changeState({ search: search.value.trim() }); }, 250);
    });
    status.addEventListener("change", function () { changeState({ status: status.value }); });
    document.getElementById("page-size").addEventListener("change", function () { changeState({ pageSize: Number(this.value) }); });
    document.getElementById("page-prev").addEventListener("click", function () { changeState({ page: Math.max(1, state.page - 1) }); });
    document.getElementById("page-next").addEventListener("click", function () { changeState({ page: state.page + 1 }); });
    document.querySelectorAll("#accounts-table th[data-sort] .acct-sort").forEach(function (button) {
      button.addEventListener("click", function () { sortBy(button.closest("th").dataset.sort); });
    });
    document.getElementById("select-all").addEventListener("change", function () { selectAll(this.checked); });
    document.querySelectorAll("#bulk-bar [data-bulk]").forEach(function (button) {
      button.addEventListener("click", function () { bulk(button.dataset.bulk); });
    });
    document.getElementById("bulk-clear").addEventListener("click", function () { selected = {}; render(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.getElementById("add-account").addEventListener("click", function () { openDialog(null); });
    document.getElementById("empty-add").addEventListener("click", function () { openDialog(null); });
    document.getElementById("paste-form").addEventListener("submit", submitPaste);
    document.getElementById("account-form").addEventListener("submit", save);
    wireList();
    gp.poll(load, REFRESH_MS);
    setInterval(tickCountdowns, 1000);
  });
})();
