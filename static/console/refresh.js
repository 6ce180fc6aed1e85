/* Refresh: the re-login worker's running attempts, queue, upcoming expiries and recent outcomes. Live. */
(function () {
  "use strict";
  var gp = window.gp, el = gp.el;
  var REFRESH_MS = 4000;
  var OUTCOMES = { running: "Running", succeeded: "Succeeded", failed: "Failed (will retry)", hard_stop: "Needs a person" };
  var OUTCOME_BADGES = { running: "cooling_down", succeeded: "active", failed: "cooling_down", hard_stop: "needs_attention" };
  var STATUS_LABELS = { active: "Active", cooling_down: "Cooling down", needs_login: "Needs login", needs_attention: "Needs attention", disabled: "Disabled" };
  var TRIGGERS = { expiring: "login expiring", needs_login: "needs login", manual: "refresh now" };
  var requested = {};

  function nil() { return el("span", { class: "nil", text: "—" }); }

  function inOrAgo(iso) {
    if (!iso) { return nil(); }
    var seconds = (new Date(iso).getTime() - Date.now()) / 1000;
    if (seconds <= 0) { return el("span", { class: "login-expired", title: gp.dateTime(iso), text: "expired " + gp.ago(iso) }); }
    return el("span", { class: seconds < 7200 ? "login-soon" : "", title: gp.dateTime(iso), text: "in " + gp.duration(seconds) });
  }

  function accountCell(item) {
    var trial = item.trial_days_left === null || item.trial_days_left === undefined ? null : "trial: " + gp.plural(item.trial_days_left, "day") + " left";
    return el("td", { class: "primary-cell" }, [
      el("div", { class: "cell-title", text: item.account_name }),
      el("div", { class: "cell-sub", text: [item.email, item.mailbox, trial].filter(Boolean).join(" · ") })
    ]);
  }

  function refreshButton(item) {
    var busy = !!requested[item.account];
    return el("button", { type: "button", class: "btn btn-text btn-small" + (busy ? " busy" : ""), disabled: busy || !!item.refresh_requested_at,
      data: { action: "refresh-now", account: String(item.account) }, text: item.refresh_requested_at ? "Asked" : "Refresh now",
      on: { click: function () { refreshNow(item, this); } } });
  }

  function why(item) {
    if (item.refresh_requested_at) { return "asked " + gp.ago(item.refresh_requested_at); }
    if (item.status === "needs_login") { return "login gone"; }
    return "expires soon";
  }

  function queueRow(item) {
    return el("tr", {}, [accountCell(item), el("td", {}, [gp.badge(item.status, STATUS_LABELS[item.status])]),
      el("td", { class: "nowrap" }, [inOrAgo(item.login_expires_at)]), el("td", { text: why(item) }),
      el("td", { class: "actions-cell" }, [refreshButton(item)])]);
  }

  function upcomingRow(item) {
    var next = item.attention_reason ? el("span", { class: "login-expired", text: "waits for a person: " + item.attention_reason })
      : (item.next_attempt_at ? el("span", { text: "backing off until " + gp.dateTime(item.next_attempt_at) }) : nil());
    return el("tr", {}, [accountCell(item), el("td", {}, [gp.badge(item.status, STATUS_LABELS[item.status])]),
      el("td", { class: "nowrap" }, [inOrAgo(item.login_expires_at)]), el("td", {}, [next]),
      el("td", { class: "actions-cell" }, [refreshButton(item)])]);
  }

  function runningRow(job) {
    return el("tr", {}, [el("td", { class: "primary-cell", text: job.account_name }), el("td", { text: TRIGGERS[job.trigger] || job.trigger }),
      el("td", { class: "nowrap", text: gp.ago(job.started_at) + " · " + job.step }), el("td", { class: "cell-sub", text: job.worker })]);
  }

  function recentRow(job) {
    var detail = job.error ? [el("div", { class: "msg", text: job.error })] : [el("span", { text: "logged in; expires " + gp.dateTime(job.new_login_expires_at) })];
    if (job.page_title || job.page_url) {
      detail.push(el("div", { class: "cell-sub", title: job.page_url, text: (job.page_title || "") + (job.page_url ? " · " + job.page_url : "") }));
    }
    var shot = job.screenshot_url ? el("a", { href: job.screenshot_url, target: "_blank", rel: "noopener", text: "view" }) : nil();
    return el("tr", { data: { job: String(job.id) } }, [
      el("td", { class: "nowrap", title: gp.dateTime(job.started_at), text: gp.ago(job.started_at) }),
      el("td", { class: "primary-cell" }, [el("div", { class: "cell-title", text: job.account_name }),
        el("div", { class: "cell-sub", text: TRIGGERS[job.trigger] || job.trigger })]),
      el("td", {}, [gp.badge(OUTCOME_BADGES[job.outcome] || "disabled", OUTCOMES[job.outcome] || job.outcome)]),
      el("td", { text: job.step }), el("td", { class: "cell-error" }, detail), el("td", {}, [shot])]);
  }

  function mailboxRow(box) {
    var secret = box.kind === "microsoft_oauth" ? "OAuth refresh token " + (box.oauth_refresh_token || "not set")
      : "password " + (box.password || "not set");
    return el("tr", {}, [
      el("td", { class: "primary-cell" }, [el("div", { class: "cell-title", text: box.name }),
        el("div", { class: "cell-sub", text: box.catch_all ? "catch-all · " + box.folders : box.folders })]),
      el("td", { class: "nowrap", text: box.host + ":" + box.port + " (" + box.security + ")" }),
      el("td", {}, [el("div", { text: box.username }), el("div", { class: "cell-sub", text: secret })]),
      el("td", { class: "num", text: box.accounts.length }),
      el("td", { class: "actions-cell" }, [el("button", { type: "button", class: "btn btn-text btn-small",
        data: { action: "test-mailbox" }, text: "Test", on: { click: function () { testMailbox(box, this); } } })])
    ]);
  }

  function testMailbox(box, button) {
    gp.busy(button, true);
    gp.api("POST", "/api/mailboxes/" + box.id + "/test").then(function (result) {
      gp.toast(box.name + ": signed in, " + gp.plural(result.messages, "message") + " in " + box.folders.split(",")[0], "ok");
    }, function (err) { gp.toast(box.name + ": " + err.message, "error"); }).then(function () { gp.busy(button, false); });
  }

  function fill(id, items, makeRow) {
    var body = gp.clear(document.querySelector("#" + id + "-table tbody"));
    items.forEach(function (item) { body.appendChild(makeRow(item)); });
    document.getElementById(id + "-empty").hidden = items.length > 0;
  }

  function load() {
    return gp.api("GET", "/api/refresh").then(function (data) {
      fill("running", data.running, runningRow);
      fill("queue", data.queue, queueRow);
      fill("upcoming", data.upcoming, upcomingRow);
      fill("recent", data.recent, recentRow);
      return gp.api("GET", "/api/mailboxes");
    }).then(function (boxes) {
      if (!document.querySelector("#mailboxes-table [data-action].busy")) { fill("mailboxes", boxes, mailboxRow); }
    });
  }

  function refreshNow(item, button) {
    requested[item.account] = true;
    gp.busy(button, true);
    gp.api("POST", "/api/accounts/" + item.account + "/refresh").then(function () {
      gp.toast(item.account_name + ": the worker will log it in on its next pass.");
    }, function (err) { gp.toast(err.message, "error"); }).then(function () {
      delete requested[item.account];
      poller.refresh();
    });
  }

  var poller = null;
  document.addEventListener("DOMContentLoaded", function () { poller = gp.poll(load, REFRESH_MS); });
})();
