/* Dashboard: accounts by status, 24 h chart, per-account table, proxy status, recent errors. Live. */
(function () {
  "use strict";
  var gp = window.gp, el = gp.el;
  var REFRESH_MS = 5000;
  var STATUS_LABELS = { active: "Active", cooling_down: "Cooling down", needs_login: "Needs login", needs_attention: "Needs attention", disabled: "Disabled" };
  var last = null;

  function sum(list) { return list.reduce(function (a, b) { return a + b; }, 0); }

  function renderStats(counts) {
    document.querySelectorAll("[data-stat]").forEach(function (node) {
      var value = counts[node.dataset.stat];
      node.textContent = value === undefined ? "–" : String(value);
    });
  }

  function renderLoginStats(counts) {
    document.querySelectorAll("[data-login-stat]").forEach(function (node) {
      var value = counts ? counts[node.dataset.loginStat] : undefined;
      node.textContent = value === undefined ? "–" : String(value);
    });
  }

  function selectedSeries(data) {
    var choice = document.getElementById("chart-account").value;
    var series = data.series.filter(function (s) { return choice === "all" || String(s.account_id) === choice; });
    var requests = data.hours.map(function (_, i) { return sum(series.map(function (s) { return s.requests[i]; })); });
    var errors = data.hours.map(function (_, i) { return sum(series.map(function (s) { return s.errors[i]; })); });
    return { requests: requests, errors: errors };
  }

  function renderChart(data) {
    var picked = selectedSeries(data);
    var total = sum(picked.requests), failed = sum(picked.errors);
    var rate = total ? Math.round((failed / total) * 1000) / 10 : 0;
    document.getElementById("chart-summary").textContent =
      total + " requests · " + failed + " errors" + (total ? " (" + rate + "%)" : "");
    gp.barChart(document.getElementById("chart"), data.hours, picked.requests, picked.errors);
  }

  function renderAccountPicker(series) {
    var select = document.getElementById("chart-account");
    var current = select.value;
    var wanted = ["all"].concat(series.map(function (s) { return String(s.account_id); }));
    var have = Array.prototype.map.call(select.options, function (o) { return o.value; });
    if (wanted.join() === have.join()) { return; }
    gp.clear(select).appendChild(el("option", { value: "all", text: "All accounts" }));
    series.forEach(function (s) { select.appendChild(el("option", { value: String(s.account_id), text: s.label })); });
    select.value = wanted.indexOf(current) >= 0 ? current : "all";
  }

  function renderPerAccount(series) {
    var body = gp.clear(document.querySelector("#per-account tbody"));
    document.getElementById("per-account-empty").hidden = series.length > 0;
    series.forEach(function (s) {
      var requests = sum(s.requests), errors = sum(s.errors);
      body.appendChild(el("tr", {}, [
        el("td", { class: "cell-title", text: s.label }),
        el("td", {}, [s.status ? gp.badge(s.status, STATUS_LABELS[s.status]) : el("span", { class: "nil", text: "—" })]),
        el("td", { class: "num", text: requests }),
        el("td", { class: "num", text: errors }),
        el("td", { class: "col-trend" }, [gp.sparkline(s.requests, s.errors)])
      ]));
    });
  }

  function renderProxy(proxy) {
    var setting = document.querySelector('[data-proxy="setting"]');
    var lastTest = document.querySelector('[data-proxy="last"]');
    if (!proxy.proxy) { setting.textContent = "Direct connection (no proxy set)"; }
    else { setting.textContent = proxy.proxy + (proxy.in_use ? " (in use)" : " (disabled)"); }
    var t = proxy.last_test;
    if (!t) { lastTest.textContent = "Never tested"; return; }
    gp.clear(lastTest).appendChild(el("span", {
      class: "test-result " + (t.reachable ? "ok" : "fail"),
      text: t.reachable ? "Reachable in " + t.latency_ms + " ms" : "Failed: " + (t.error || "unreachable")
    }));
    lastTest.appendChild(el("span", { class: "muted", text: " · " + gp.ago(t.at) }));
  }

  function renderErrors(errors) {
    var list = gp.clear(document.getElementById("recent-errors"));
    document.getElementById("recent-errors-empty").hidden = errors.length > 0;
    errors.forEach(function (e) {
      list.appendChild(el("li", {}, [
        el("span", { class: "what" }, [el("span", { class: "status-code", text: e.status_code + " " }), e.error_kind || "error"]),
        el("span", { class: "when", text: gp.ago(e.at) }),
        el("span", { class: "detail", text: [e.account || "no account", e.model, e.latency_ms + " ms"].filter(Boolean).join(" · ") })
      ]));
    });
  }

  function refresh() {
    return gp.api("GET", "/api/dashboard").then(function (data) {
      last = data;
      renderStats(data.accounts);
      renderLoginStats(data.logins);
      renderAccountPicker(data.series);
      renderChart(data);
      renderPerAccount(data.series);
      renderProxy(data.proxy);
      renderErrors(data.recent_errors);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.getElementById("chart-account").addEventListener("change", function () { if (last) { renderChart(last); } });
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(function () { if (last) { renderChart(last); } }, 120);
    });
    gp.poll(refresh, REFRESH_MS);
  });
})();
