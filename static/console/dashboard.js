/* Dashboard: accounts by status; traffic over a chosen range (requests, errors, latency and time-to-first-token
   percentiles, per model and per key, from /api/dashboard/series); the per-account 24 h chart and table, proxy
   status, recent errors (from /api/dashboard). Live. The range and filters live in the URL (?range=7d&model=…). */
(function () {
  "use strict";
  var gp = window.gp, el = gp.el;
  var REFRESH_MS = 5000, SERIES_REFRESH_MS = 15000;
  var STATUS_LABELS = { active: "Active", cooling_down: "Cooling down", needs_login: "Needs login", needs_attention: "Needs attention", disabled: "Disabled" };
  var RANGES = { "1h": "the last hour", "6h": "the last 6 hours", "24h": "the last 24 hours", "7d": "the last 7 days", "30d": "the last 30 days" };
  var DEFAULT_RANGE = "24h";
  var PERCENTILES = [["p50", "dash-p50"], ["p95", "dash-p95"], ["p99", "dash-p99"]];
  var last = null, lastSeries = null, getSeries = gp.latestGet();

  function sum(list) { return list.reduce(function (a, b) { return a + b; }, 0); }

  /* ---- range, model and key: the URL holds them ---------------------------------------------- */

  function state() {
    var params = new URLSearchParams(window.location.search);
    var range = params.get("range");
    return { range: RANGES[range] ? range : DEFAULT_RANGE, model: params.get("model") || "", key: params.get("key") || "" };
  }

  function setState(changes) {
    var next = Object.assign(state(), changes), params = new URLSearchParams(window.location.search);
    ["range", "model", "key"].forEach(function (name) {
      if (next[name] && !(name === "range" && next[name] === DEFAULT_RANGE)) { params.set(name, next[name]); }
      else { params.delete(name); }
    });
    var query = params.toString();
    window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
    loadSeries().catch(function () { /* shown in #dash-error */ });
  }

  function seriesUrl(current) {
    var params = new URLSearchParams({ range: current.range });
    if (current.model) { params.set("model", current.model); }
    if (current.key) { params.set("key", current.key); }
    return "/api/dashboard/series?" + params.toString();
  }

  /* ---- traffic over the range ------------------------------------------------------------------ */

  function rate(errors, requests) {
    return requests ? (Math.round((errors / requests) * 1000) / 10) + "%" : "—";
  }

  function pair(figures) {
    return figures.p50 === null ? "—" : gp.ms(figures.p50) + " / " + gp.ms(figures.p95);
  }

  function renderControls(data, current) {
    document.querySelectorAll("#dash-ranges [data-range]").forEach(function (button) {
      var on = button.dataset.range === current.range;
      button.classList.toggle("active", on);
      button.setAttribute("aria-pressed", on ? "true" : "false");
    });
    fillSelect(document.getElementById("dash-model"), "All models",
      data.models.filter(Boolean).map(function (m) { return { value: m, text: m }; }), current.model);
    fillSelect(document.getElementById("dash-key"), "All keys",
      data.keys.map(function (k) { return { value: String(k.id), text: k.name }; }), current.key);
  }

  /* The options seen in the range, plus the chosen one even if it had no traffic (so the choice stays). */
  function fillSelect(select, allLabel, items, chosen) {
    if (chosen && !items.some(function (item) { return item.value === chosen; })) {
      items = items.concat([{ value: chosen, text: chosen }]);
    }
    var wanted = [""].concat(items.map(function (item) { return item.value + "\u0000" + item.text; }));
    var have = Array.prototype.map.call(select.options, function (o) { return o.value ? o.value + "\u0000" + o.text : ""; });
    if (wanted.join("\u0001") !== have.join("\u0001")) {
      gp.clear(select).appendChild(el("option", { value: "", text: allLabel }));
      items.forEach(function (item) { select.appendChild(el("option", { value: item.value, text: item.text })); });
    }
    select.value = chosen;
  }

  function renderSeries() {
    var data = lastSeries;
    if (!data) { return; }
    var current = state(), totals = data.totals, empty = totals.requests === 0;
    var filtered = current.model || current.key ? " for this filter" : "";
    renderControls(data, current);
    document.getElementById("dash-summary").textContent = empty ? "Requests, errors and latency in " + RANGES[data.range] :
      gp.plural(totals.requests, "request") + " · " + gp.plural(totals.errors, "error") + " (" + rate(totals.errors, totals.requests) +
      ") in " + RANGES[data.range];
    document.getElementById("dash-empty").textContent = "No requests in " + RANGES[data.range] + filtered + ".";
    document.getElementById("dash-empty").hidden = !empty;
    ["dash-body", "dash-latency-cards", "dash-tables", "dash-note"].forEach(function (id) { document.getElementById(id).hidden = empty; });
    if (empty) { return; }
    var figures = { requests: totals.requests.toLocaleString(), errors: totals.errors.toLocaleString() + " (" + rate(totals.errors, totals.requests) + ")",
      latency: pair(totals.latency_ms), ttft: pair(totals.ttft_ms) };
    document.querySelectorAll("[data-figure]").forEach(function (node) { node.textContent = figures[node.dataset.figure]; });
    var all = data.series[0];
    gp.barChart(document.getElementById("dash-requests"), data.slots, all.requests, all.errors, data.slot_seconds);
    renderLines("dash-latency", all.latency_ms, data);
    var ttftEmpty = totals.ttft_ms.p50 === null;
    document.getElementById("dash-ttft-empty").hidden = !ttftEmpty;
    document.getElementById("dash-ttft").hidden = ttftEmpty;
    if (!ttftEmpty) { renderLines("dash-ttft", all.ttft_ms, data); }
    document.getElementById("dash-note").textContent = data.percentiles;
    renderTable("dash-models", data.by_model, function (row) { return row.model || "(no model)"; });
    renderTable("dash-keys", data.by_key, function (row) { return row.key.name; });
  }

  function renderLines(id, percentiles, data) {
    var lines = PERCENTILES.map(function (p) { return { name: p[0], cls: p[1], values: percentiles[p[0]] }; });
    gp.lineChart(document.getElementById(id), data.slots, lines, data.slot_seconds);
  }

  function renderTable(id, rows, label) {
    var body = gp.clear(document.querySelector("#" + id + " tbody"));
    rows.forEach(function (row) {
      body.appendChild(el("tr", {}, [
        el("td", { class: "cell-title primary-cell", text: label(row) }),
        el("td", { class: "num", text: row.requests.toLocaleString(), data: { label: "Requests" } }),
        el("td", { class: "num", text: row.errors.toLocaleString(), data: { label: "Errors" } }),
        el("td", { class: "num", text: rate(row.errors, row.requests), data: { label: "Error rate" } }),
        el("td", { class: "num", text: gp.ms(row.latency_ms.p50), data: { label: "Latency p50" } }),
        el("td", { class: "num", text: gp.ms(row.latency_ms.p95), data: { label: "Latency p95" } })
      ]));
    });
  }

  function loadSeries() {
    var current = state(), error = document.getElementById("dash-error");
    return getSeries(seriesUrl(current)).then(function (data) {
      lastSeries = data;
      error.hidden = true;
      renderSeries();
    }, function (err) {
      if (err.name === "AbortError") { return; }
      error.textContent = err.message;
      error.hidden = false;
      throw err;
    });
  }

  /* ---- accounts, per-account 24 h, proxy, recent errors ------------------------------------------ */

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
    if (choice === "all") { return data.totals; }  /* requests as clients made them: a failover is one request */
    var series = data.series.filter(function (s) { return String(s.account_id) === choice; });
    var requests = data.hours.map(function (_, i) { return sum(series.map(function (s) { return s.requests[i]; })); });
    var errors = data.hours.map(function (_, i) { return sum(series.map(function (s) { return s.errors[i]; })); });
    return { requests: requests, errors: errors };
  }

  function renderChart(data) {
    var picked = selectedSeries(data);
    var total = sum(picked.requests), failed = sum(picked.errors);
    document.getElementById("chart-summary").textContent =
      gp.plural(total, "request") + " · " + gp.plural(failed, "error") + (total ? " (" + rate(failed, total) + ")" : "");
    gp.barChart(document.getElementById("chart"), data.hours, picked.requests, picked.errors, 3600);
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
        el("td", { class: "num", text: s.latency_ms_avg === null ? "—" : s.latency_ms_avg + " ms" }),
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

  /* "seat 1, seat 2" or, past three, "5 accounts". */
  function listed(names, noun) {
    return names.length > 3 ? gp.plural(names.length, noun) : names.join(", ");
  }

  function renderErrors(errors) {
    var list = gp.clear(document.getElementById("recent-errors"));
    document.getElementById("recent-errors-empty").hidden = errors.length > 0;
    errors.forEach(function (e) {
      var count = e.count || 1;
      var accounts = e.accounts && e.accounts.length ? e.accounts : [e.account || "no account"];
      var models = e.models && e.models.length ? e.models : [e.model].filter(Boolean);
      var detail = count > 1
        ? [gp.plural(count, "time"), listed(accounts, "account"), listed(models, "model")]
        : [accounts[0], models[0], e.latency_ms + " ms"];
      var link = el("a", { class: "what", href: "/requests/?range=24h&status=" + e.status_code,
                           title: "These requests in the request log" },
                    [el("span", { class: "status-code", text: e.status_code + " " }), e.error_kind || "error"]);
      list.appendChild(el("li", {}, [
        link,
        el("span", { class: "when", text: gp.ago(e.at) }),
        el("span", { class: "detail", text: detail.filter(Boolean).join(" · ") })
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
    document.querySelectorAll("#dash-ranges [data-range]").forEach(function (button) {
      button.addEventListener("click", function () { setState({ range: button.dataset.range }); });
    });
    document.getElementById("dash-model").addEventListener("change", function (event) { setState({ model: event.target.value }); });
    document.getElementById("dash-key").addEventListener("change", function (event) { setState({ key: event.target.value }); });
    document.getElementById("chart-account").addEventListener("change", function () { if (last) { renderChart(last); } });
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(function () { if (last) { renderChart(last); } renderSeries(); }, 120);
    });
    gp.poll(refresh, REFRESH_MS);
    gp.poll(loadSeries, SERIES_REFRESH_MS);
  });
})();
