/* gempool console: shared helpers (API calls with the CSRF token, DOM building, dialogs, snackbars,
   theme switch, polling). Page scripts use window.gp. Data is always inserted as text, never as HTML. */
(function () {
  "use strict";

  var THEME_KEY = "gempool-theme";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /* An API error with the server's envelope: .status, .message, .fields, .problems, .code. */
  function ApiError(status, body) {
    var err = (body && body.error) || {};
    this.name = "ApiError";
    this.status = status;
    this.message = err.message || ("Request failed (" + status + ")");
    this.fields = err.fields || {};
    this.problems = err.problems || [];
    this.code = err.code || "";
  }
  ApiError.prototype = Object.create(Error.prototype);

  function api(method, url, body, options) {
    var init = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (method !== "GET") { init.headers["X-CSRFToken"] = csrfToken(); }
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (options && options.signal) { init.signal = options.signal; }
    return fetch(url, init).then(function (response) {
      if (response.status === 204) { return null; }
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (response.status === 401 || (response.status === 403 && data && data.error &&
            /credentials|authenticat/i.test(data.error.message || ""))) {
          // The session ended (logout elsewhere, expiry): back to the login page.
          window.location.assign("/login/?next=" + encodeURIComponent(window.location.pathname));
        }
        if (!response.ok) { throw new ApiError(response.status, data); }
        return data;
      });
    });
  }

  /* A GET whose every call aborts the one before it still in flight, so only the newest answer is drawn
     (filters changed faster than the server answered); an aborted call rejects with an AbortError. */
  function latestGet() {
    var pending = null;
    return function (url) {
      if (pending) { pending.abort(); }
      pending = new AbortController();
      return api("GET", url, undefined, { signal: pending.signal });
    };
  }

  /* el("td", {class: "x", text: "y", data: {label: "Z"}, on: {click: fn}}, [children]) */
  function el(tag, props, children) {
    var ns = props && props.svg ? "http://www.w3.org/2000/svg" : null;
    var node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    props = props || {};
    Object.keys(props).forEach(function (key) {
      var value = props[key];
      if (value === undefined || value === null || value === false || key === "svg") { return; }
      if (key === "text") { node.textContent = String(value); }
      else if (key === "class") { node.setAttribute("class", value); }
      else if (key === "data") { Object.keys(value).forEach(function (k) { node.dataset[k] = value[k]; }); }
      else if (key === "on") { Object.keys(value).forEach(function (k) { node.addEventListener(k, value[k]); }); }
      else if (key === "attrs") { Object.keys(value).forEach(function (k) { node.setAttribute(k, value[k]); }); }
      else if (value === true) { node.setAttribute(key, ""); }
      else { node.setAttribute(key, value); }
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) { return; }
      node.appendChild(typeof child === "string" || typeof child === "number"
        ? document.createTextNode(String(child)) : child);
    });
    return node;
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } return node; }

  function toast(message, kind) {
    var host = document.getElementById("snackbars");
    if (!host) { return; }
    var node = el("div", { class: "snackbar" + (kind ? " " + kind : ""), role: "status", text: message });
    host.appendChild(node);
    setTimeout(function () { node.remove(); }, kind === "error" ? 7000 : 4000);
  }

  function badge(status, label) {
    return el("span", { class: "badge badge-" + status, text: label || status.replace("_", " ") });
  }

  /* ---- time formatting --------------------------------------------------------------------- */

  function ago(iso) {
    if (!iso) { return "never"; }
    var seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    if (seconds < 45) { return "just now"; }
    if (seconds < 3600) { return Math.round(seconds / 60) + " min ago"; }
    if (seconds < 86400) { return Math.round(seconds / 3600) + " h ago"; }
    return Math.round(seconds / 86400) + " d ago";
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.ceil(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return h ? h + ":" + pad(m) + ":" + pad(s) : m + ":" + pad(s);
  }

  /* "1 account", "2 accounts"; `many` for irregular words ("1 match", "2 matches"). */
  function plural(n, one, many) {
    return n + " " + (n === 1 ? one : (many || one + "s"));
  }

  function dateTime(iso) {
    if (!iso) { return "—"; }
    var d = new Date(iso);
    return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  /* ---- forms and dialogs -------------------------------------------------------------------- */

  function showErrors(form, error) {
    clearErrors(form);
    var fields = (error && error.fields) || {};
    var shown = false;
    Object.keys(fields).forEach(function (name) {
      var slot = form.querySelector('[data-error="' + name + '"]');
      var messages = [].concat(fields[name]).map(function (m) { return typeof m === "string" ? m : JSON.stringify(m); });
      if (slot) {
        slot.textContent = messages.join(" ");
        var field = slot.closest(".field");
        if (field) { field.classList.add("invalid"); }
        shown = true;
      }
    });
    if (!shown) {
      var general = form.querySelector('[data-error="_form"]');
      if (general) { general.textContent = (error && error.message) || "Something went wrong."; general.hidden = false; }
      else { toast((error && error.message) || "Something went wrong.", "error"); }
    }
    var first = form.querySelector(".field.invalid input, .field.invalid textarea");
    if (first) { first.focus(); }
  }

  function clearErrors(form) {
    form.querySelectorAll("[data-error]").forEach(function (slot) {
      if (slot.dataset.error === "_form") { slot.hidden = true; }
      slot.textContent = "";
    });
    form.querySelectorAll(".field.invalid").forEach(function (f) { f.classList.remove("invalid"); });
  }

  function wireDialog(dialog) {
    dialog.querySelectorAll("[data-close]").forEach(function (button) {
      button.addEventListener("click", function () { dialog.close(); });
    });
    return dialog;
  }

  function confirmDialog(title, text, okLabel) {
    var dialog = document.getElementById("confirm-dialog");
    document.getElementById("confirm-title").textContent = title;
    document.getElementById("confirm-text").textContent = text;
    document.getElementById("confirm-ok").textContent = okLabel || "Delete";
    return new Promise(function (resolve) {
      function done() { dialog.removeEventListener("close", done); resolve(dialog.returnValue === "ok"); }
      dialog.returnValue = "";
      dialog.addEventListener("close", done);
      document.getElementById("confirm-ok").value = "ok";
      dialog.showModal();
    });
  }

  function busy(button, on) {
    if (!button) { return; }
    button.classList.toggle("busy", on);
    button.disabled = on;
  }

  /* ---- live refresh -------------------------------------------------------------------------- */

  /* Calls fn (which returns a promise) now and every `ms` while the tab is visible. */
  function poll(fn, ms) {
    var timer = null, running = false;
    var indicator = document.getElementById("live-indicator");
    function tick() {
      if (running || document.hidden) { return; }
      running = true;
      Promise.resolve(fn()).then(function () {
        if (indicator) { indicator.classList.remove("stale"); }
      }, function () {
        if (indicator) { indicator.classList.add("stale"); }
      }).then(function () { running = false; });
    }
    tick();
    timer = setInterval(tick, ms);
    document.addEventListener("visibilitychange", function () { if (!document.hidden) { tick(); } });
    return { refresh: tick, stop: function () { clearInterval(timer); } };
  }

  /* ---- theme --------------------------------------------------------------------------------- */

  function setTheme(theme) {
    document.documentElement.setAttribute("data-theme", theme);
    try { window.localStorage.setItem(THEME_KEY, theme); } catch (e) { /* storage disabled */ }
    document.dispatchEvent(new CustomEvent("gp:theme", { detail: theme }));
  }

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.getElementById("theme-toggle");
    if (toggle) {
      toggle.addEventListener("click", function () {
        var current = document.documentElement.getAttribute("data-theme");
        setTheme(current === "dark" ? "light" : "dark");
      });
    }
    document.querySelectorAll("dialog").forEach(wireDialog);
  });

  window.gp = {
    api: api, ApiError: ApiError, el: el, clear: clear, toast: toast, badge: badge, ago: ago,
    duration: duration, dateTime: dateTime, showErrors: showErrors, clearErrors: clearErrors,
    confirm: confirmDialog, busy: busy, poll: poll, setTheme: setTheme, plural: plural, latestGet: latestGet
  };
})();
