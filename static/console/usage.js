/* Usage: totals, stacked daily charts per key and per model, tables, CSV export, over a chosen range. */
(function () {
  "use strict";
  var gp = window.gp, el = gp.el;
  var MAX_SERIES = 7;  /* the rest is drawn as one "other" series (colour 8) */
  var UNITS = { requests: "requests", tokens: "tokens", errors: "errors" };
  var last = null, getUsage = gp.latestGet();

  function isoDay(date) { return date.toISOString().slice(0, 10); }

  function params() {
    var out = {}, range = document.getElementById("usage-range").value;
    if (range === "custom") {
      out.from = document.getElementById("usage-from").value;
      out.to = document.getElementById("usage-to").value;
    } else {
      var today = new Date();
      out.to = isoDay(today);
      out.from = isoDay(new Date(today.getTime() - (Number(range) - 1) * 86400000));
    }
    var key = document.getElementById("usage-key").value, model = document.getElementById("usage-model").value;
    if (key) { out.key = key; }
    if (model) { out.model = model; }
    return out;
  }

  function query(values) {
    return Object.keys(values).filter(function (k) { return values[k]; })
      .map(function (k) { return encodeURIComponent(k) + "=" + encodeURIComponent(values[k]); }).join("&");
  }

  function total(list) { return list.reduce(function (a, b) { return a + b; }, 0); }

  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

  function topSeries(series, metric) {
    var shown = series.slice(0, MAX_SERIES).map(function (s) { return { name: s.name, values: s[metric] }; });
    var rest = series.slice(MAX_SERIES);
    if (rest.length) {
      shown.push({ name: plural(rest.length, "other"), values: rest[0][metric].map(function (_, i) {
        return total(rest.map(function (s) { return s[metric][i]; }));
      }) });
    }
    return shown;
  }

  function renderTotals(t) {
    var values = { requests: t.requests.toLocaleString(), errors: t.errors.toLocaleString(),
      tokens: (t.prompt_tokens + t.completion_tokens).toLocaleString(),
      latency: t.latency_ms_avg === null ? "—" : t.latency_ms_avg + " ms" };
    document.querySelectorAll("[data-total]").forEach(function (node) { node.textContent = values[node.dataset.total]; });
  }

  function renderGroup(name, series, metric) {
    var shown = topSeries(series, metric);
    gp.stackedChart(document.getElementById("chart-" + name), last.days, shown, UNITS[metric]);
    var legend = gp.clear(document.getElementById("legend-" + name));
    shown.forEach(function (s, i) {
      legend.appendChild(el("span", { class: "legend-item" }, [el("span", { class: "swatch series-" + (i % 8) }), s.name]));
    });
    document.querySelector('[data-summary="' + name + '"]').textContent = plural(series.length, name);
    var body = gp.clear(document.querySelector("#usage-" + name + "s tbody"));
    series.forEach(function (s) {
      body.appendChild(el("tr", {}, [
        el("td", { class: "cell-title", text: s.name }),
        el("td", { class: "num", text: total(s.requests).toLocaleString() }),
        el("td", { class: "num", text: total(s.errors).toLocaleString() }),
        el("td", { class: "num", text: total(s.tokens).toLocaleString() })
      ]));
    });
  }

  function render() {
    if (!last) { return; }
    var metric = document.getElementById("usage-metric").value;
    renderTotals(last.totals);
    renderGroup("key", last.by_key, metric);
    renderGroup("model", last.by_model, metric);
    document.getElementById("usage-empty").hidden = last.totals.requests > 0;
  }

  function load() {
    var values = params(), error = document.getElementById("usage-error");
    document.getElementById("usage-export").href = "/api/usage/export?" + query(Object.assign({ group_by: "day,key,model" }, values));
    return getUsage("/api/usage?" + query(values)).then(function (data) {
      last = data;
      error.hidden = true;
      render();
    }, function (err) {
      if (err.name === "AbortError") { return; }
      error.textContent = err.message;
      error.hidden = false;
    });
  }

  function fillOptions(select, items) {
    items.forEach(function (item) { select.appendChild(el("option", { value: String(item.value), text: item.text })); });
  }

  function loadFilters() {
    gp.api("GET", "/api/keys").then(function (keys) {
      fillOptions(document.getElementById("usage-key"), keys.map(function (k) {
        return { value: k.id, text: k.name + (k.revoked ? " (revoked)" : "") };
      }));
    }, function () { /* the filter stays at "All keys" */ });
    gp.api("GET", "/api/models").then(function (models) {
      fillOptions(document.getElementById("usage-model"), models.map(function (m) { return { value: m.id, text: m.id }; }));
    }, function () { /* the filter stays at "All models" */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var range = document.getElementById("usage-range");
    var today = new Date();
    document.getElementById("usage-to").value = isoDay(today);
    document.getElementById("usage-from").value = isoDay(new Date(today.getTime() - 29 * 86400000));
    range.addEventListener("change", function () {
      document.querySelectorAll(".usage-custom").forEach(function (node) { node.hidden = range.value !== "custom"; });
      load();
    });
    ["usage-from", "usage-to", "usage-key", "usage-model"].forEach(function (id) {
      document.getElementById(id).addEventListener("change", load);
    });
    document.getElementById("usage-metric").addEventListener("change", render);
    document.getElementById("usage-filters").addEventListener("submit", function (event) { event.preventDefault(); });
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(render, 120);
    });
    loadFilters();
    load();
  });
})();
