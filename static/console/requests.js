/* Requests: the request log, newest first, filtered (the filters live in the address, so a link can be shared),
   a page at a time; a row opens to show its upstream attempts, their accounts and errors. */
(function () {
  "use strict";
  var gp = window.gp, el = gp.el;
  var PAGE = 50;
  var COLUMNS = 7;
  var FILTERS = ["range", "key", "model", "status", "account", "q"];
  var DEFAULTS = { range: "24h" };
  var OUTCOMES = { ok: "Answered", error: "Upstream error", client_closed: "Client went away", crashed: "Gateway error" };
  var state = { next: null, shown: 0, promptLogging: false }, getPage = gp.latestGet();

  function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

  function control(name) { return document.getElementById("reqlog-" + name); }

  function values() {
    var out = {};
    FILTERS.forEach(function (name) {
      var value = control(name).value.trim();
      if (value && value !== DEFAULTS[name]) { out[name] = value; }
    });
    return out;
  }

  function query(params) {
    return Object.keys(params).map(function (k) {
      return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]);
    }).join("&");
  }

  /* A select keeps a value from the address even before (or without) the option it names. */
  function ensureOption(select, value, label) {
    var found = Array.prototype.some.call(select.options, function (o) { return o.value === value; });
    if (!found) { select.appendChild(el("option", { value: value, text: label || value })); }
  }

  function fromAddress() {
    var params = new URLSearchParams(window.location.search);
    FILTERS.forEach(function (name) {
      var value = params.get(name);
      if (value === null) { return; }
      var node = control(name);
      if (node.tagName === "SELECT") { ensureOption(node, value); }
      node.value = value;
    });
  }

  function toAddress() {
    var text = query(values());
    window.history.replaceState(null, "", window.location.pathname + (text ? "?" + text : ""));
  }

  function apiParams(cursor) {
    var filters = values(), out = { from: control("range").value, limit: PAGE };
    ["key", "model", "status", "account", "q"].forEach(function (name) {
      if (filters[name] !== undefined) { out[name] = filters[name]; }
    });
    if (cursor) { out.cursor = cursor; }
    return out;
  }

  /* ---- formatting ------------------------------------------------------------------------------ */

  function time(iso) {
    return new Date(iso).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit",
      minute: "2-digit", second: "2-digit" });
  }

  function ms(value) {
    if (value === null || value === undefined) { return "—"; }
    return value < 1000 ? value + " ms" : (value / 1000).toFixed(value < 10000 ? 2 : 1) + " s";
  }

  function accountName(account) { return account ? account.label : "(deleted account)"; }

  function statusBadge(row) {
    var kind = !row.failed ? "ok" : row.status_code === 429 || (row.status_code >= 400 && row.status_code < 500)
      ? "warn" : "err";
    var label = String(row.status_code) + (row.status_code < 400 && row.failed ? " · broke" : "");
    return el("span", { class: "badge reqlog-badge reqlog-badge-" + kind, text: label,
      title: row.error_kind || (row.failed ? "failed" : "succeeded") });
  }

  /* ---- rows ------------------------------------------------------------------------------------- */

  function summaryRow(row) {
    var accounts = row.attempts.map(function (a) { return accountName(a.account); });
    var tr = el("tr", { class: "reqlog-row" + (row.failed ? " reqlog-failed" : ""), tabindex: "0",
      "aria-expanded": "false", data: { id: String(row.id) } }, [
      el("td", { class: "nowrap", title: row.created_at }, [time(row.created_at)]),
      el("td", {}, [row.key ? el("span", { class: "cell-title", text: row.key.name }) : el("span", { class: "nil", text: "(no key)" })]),
      el("td", {}, [el("div", { text: row.model || "—" }),
        el("div", { class: "cell-sub", text: row.endpoint + (row.stream ? " · stream" : "") })]),
      el("td", {}, [statusBadge(row), row.error_kind ? el("div", { class: "cell-sub reqlog-kind", text: row.error_kind }) : null]),
      el("td", { class: "reqlog-attempts-cell" }, [el("div", { text: plural(row.attempts.length, "attempt") }),
        accounts.length ? el("div", { class: "cell-sub reqlog-accounts", text: accounts.join(" → ") }) : null]),
      el("td", { class: "num nowrap", text: ms(row.latency_ms) }),
      el("td", { class: "num nowrap", text: ms(row.ttft_ms) })
    ]);
    tr.addEventListener("click", function () { toggle(tr, row); });
    tr.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); toggle(tr, row); }
    });
    return tr;
  }

  function toggle(tr, row) {
    var open = tr.getAttribute("aria-expanded") === "true";
    tr.setAttribute("aria-expanded", open ? "false" : "true");
    tr.classList.toggle("reqlog-open", !open);
    if (open) { tr.nextSibling.remove(); return; }
    tr.parentNode.insertBefore(detailRow(row), tr.nextSibling);
  }

  function promptText(row) {
    if (row.prompt !== null && row.prompt !== undefined) {
      return el("pre", { class: "reqlog-prompt", text: row.prompt || "(no text)" });
    }
    return el("span", { class: "nil", text: state.promptLogging ? "Not kept for this request."
      : "Not kept: prompt logging is off (GEMPOOL_LOG_PROMPTS)." });
  }

  function detailRow(row) {
    var facts = [
      ["Request id", el("code", { text: row.request_id || "—" })],
      ["Endpoint", row.endpoint + (row.stream ? " (stream)" : "")],
      ["Error", row.error_kind || "—"],
      ["Tokens", row.tokens.prompt.toLocaleString() + " prompt · " + row.tokens.completion.toLocaleString() +
        " completion (estimated)"],
      ["Tool calls", String(row.tool_calls)],
      ["Attachments", String(row.attachments)],
      ["Prompt", promptText(row)]
    ];
    var list = el("dl", { class: "kv reqlog-facts" });
    facts.forEach(function (fact) {
      list.appendChild(el("dt", { text: fact[0] }));
      list.appendChild(el("dd", {}, [fact[1]]));
    });
    var body = el("div", { class: "reqlog-detail-body" }, [list, attemptsTable(row)]);
    return el("tr", { class: "reqlog-detail" }, [el("td", { colspan: String(COLUMNS) }, [body])]);
  }

  function attemptsTable(row) {
    if (!row.attempts.length) {
      return el("p", { class: "muted reqlog-no-attempts", text: "No account was tried." });
    }
    var body = el("tbody");
    row.attempts.forEach(function (a, i) {
      var account = a.account;
      body.appendChild(el("tr", {}, [
        el("td", { class: "num", text: String(i + 1) }),
        el("td", {}, [el("div", { class: "cell-title reqlog-account", text: accountName(account) }),
          account ? el("div", { class: "cell-sub", text: "#" + account.id + (account.email ? " · " + account.email : "") }) : null]),
        el("td", { class: "nowrap", text: time(a.started_at) }),
        el("td", { class: "num nowrap", text: ms(a.latency_ms) }),
        el("td", {}, [el("span", { class: "badge reqlog-badge reqlog-badge-" + (a.outcome === "ok" ? "ok" : "err"),
          text: OUTCOMES[a.outcome] || a.outcome })]),
        el("td", { class: a.error_kind ? "reqlog-kind" : "nil", text: a.error_kind || "—" })
      ]));
    });
    return el("div", { class: "table-wrap" }, [el("table", { class: "table table-compact reqlog-attempts" }, [
      el("thead", {}, [el("tr", {}, [el("th", { class: "num", text: "#" }), el("th", { text: "Account" }),
        el("th", { text: "Started" }), el("th", { class: "num", text: "Latency" }), el("th", { text: "Outcome" }),
        el("th", { text: "Error" })])]),
      body])]);
  }

  /* ---- loading ---------------------------------------------------------------------------------- */

  function showError(err) {
    var node = control("error");
    var fields = err.fields || {};
    var detail = Object.keys(fields).map(function (k) { return k + ": " + [].concat(fields[k]).join(" "); }).join(" ");
    node.textContent = detail || err.message;
    node.hidden = false;
  }

  function render(data, append) {
    var body = document.querySelector("#reqlog-table tbody");
    if (!append) { gp.clear(body); state.shown = 0; }
    data.results.forEach(function (row) { body.appendChild(summaryRow(row)); });
    state.shown += data.results.length;
    state.next = data.next;
    state.promptLogging = data.prompt_logging;
    control("empty").hidden = state.shown > 0;
    control("more").hidden = !data.more;
    control("summary").textContent = state.shown ? plural(state.shown, "request") + ", newest first" +
      (data.more ? " · older ones below" : "") : "";
    control("prompts").textContent = data.prompt_logging ? "Prompts: first 500 characters kept"
      : "Prompt logging is off";
  }

  function load(append) {
    var button = control("more");
    if (append) { gp.busy(button, true); }
    var url = "/api/requests?" + query(apiParams(append ? state.next : null));
    return getPage(url).then(function (data) {
      control("error").hidden = true;
      render(data, append);
    }, function (err) {
      if (err.name === "AbortError") { return; }
      showError(err);
      if (!append) { render({ results: [], more: false, next: null, prompt_logging: state.promptLogging }, false); }
    }).then(function () { if (append) { gp.busy(button, false); } });
  }

  function refilter() {
    toAddress();
    load(false);
  }

  function fillOptions(select, items) {
    var wanted = select.value;
    items.forEach(function (item) {
      var existing = Array.prototype.find.call(select.options, function (o) { return o.value === item.value; });
      if (existing) { existing.textContent = item.text; }
      else { select.appendChild(el("option", { value: item.value, text: item.text })); }
    });
    select.value = wanted;
  }

  function loadChoices() {
    gp.api("GET", "/api/keys").then(function (keys) {
      fillOptions(control("key"), keys.map(function (k) {
        return { value: String(k.id), text: k.name + (k.revoked ? " (revoked)" : "") };
      }));
    }, function () { /* the filter keeps "All keys" */ });
    gp.api("GET", "/api/models").then(function (models) {
      fillOptions(control("model"), models.map(function (m) { return { value: m.id, text: m.id }; }));
    }, function () { /* the filter keeps "All models" */ });
    gp.api("GET", "/api/accounts").then(function (accounts) {
      fillOptions(control("account"), accounts.map(function (a) {
        return { value: String(a.id), text: a.display_name || a.label || ("account " + a.id) };
      }));
    }, function () { /* the filter keeps "All accounts" */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    fromAddress();
    ["range", "key", "model", "status", "account"].forEach(function (name) {
      control(name).addEventListener("change", refilter);
    });
    var typing = null, search = control("q");
    search.addEventListener("input", function () {
      clearTimeout(typing);
      typing = setTimeout(refilter, 350);
    });
    control("filters").addEventListener("submit", function (event) {
      event.preventDefault();
      clearTimeout(typing);
      refilter();
    });
    control("more").addEventListener("click", function () { load(true); });
    control("reload").addEventListener("click", function () { load(false); });
    loadChoices();
    load(false);
  });
})();
