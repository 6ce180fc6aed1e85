/* Models: the catalogue table with add / edit / delete, aliases and an enabled switch. */
(function () {
  "use strict";
  var gp = window.gp, el = gp.el;
  var TEXT = ["id", "name", "upstream_model_id", "description"];
  var NUMBERS = ["context_length", "max_tokens", "sort_order", "price_per_1k_tokens"];
  var FLAGS = ["supports_text", "web_grounding", "image_generation", "video_generation", "enabled"];
  var models = [], editing = null;

  function number(n) { return Number(n).toLocaleString(); }

  function row(model) {
    var toggle = el("label", { class: "switch", title: model.enabled ? "Disable" : "Enable" }, [
      el("input", { type: "checkbox", checked: model.enabled, "aria-label": "Enabled: " + model.id,
        on: { change: function () { patch(model, { enabled: this.checked }); } } }),
      el("span", { class: "track" })
    ]);
    return el("tr", { data: { id: model.id } }, [
      el("td", { class: "primary-cell", data: { label: "Model" } }, [
        el("div", { class: "cell-title", text: model.id }),
        model.name ? el("div", { class: "muted", text: model.name }) : null,
        model.aliases.length ? el("div", { class: "aliases" }, [el("span", { class: "muted", text: "Also: " })].concat(
          model.aliases.map(function (a) { return el("code", { class: "chip", text: a }); }))) : null
      ]),
      el("td", { data: { label: "Upstream" } }, [model.upstream_model_id ? el("code", { text: model.upstream_model_id }) : el("span", { class: "nil", text: "auto" })]),
      el("td", { data: { label: "Capabilities" } }, [el("div", {}, model.capabilities.map(function (c) {
        return el("span", { class: "chip", text: c.replace(/_/g, " ") });
      }))]),
      el("td", { class: "num", data: { label: "Context" }, text: number(model.context_length) }),
      el("td", { class: "num", data: { label: "Max output" }, text: number(model.max_tokens) }),
      el("td", { data: { label: "Enabled" } }, [toggle]),
      el("td", { class: "actions-cell" }, [el("div", { class: "row-actions" }, [
        el("button", { type: "button", class: "btn btn-text btn-small", text: "Edit", on: { click: function () { openDialog(model); } } }),
        el("button", { type: "button", class: "btn btn-text btn-small", text: "Delete", on: { click: function () { remove(model); } } })
      ])])
    ]);
  }

  function render() {
    var body = gp.clear(document.querySelector("#models-table tbody"));
    models.forEach(function (m) { body.appendChild(row(m)); });
    document.getElementById("models-empty").hidden = models.length > 0;
  }

  function load() {
    return gp.api("GET", "/api/models").then(function (data) { models = data; render(); });
  }

  function url(model) { return "/api/models/" + encodeURIComponent(model.id); }

  function patch(model, changes) {
    gp.api("PATCH", url(model), changes).then(function () {
      gp.toast(model.id + (changes.enabled ? " enabled" : " disabled"), "ok");
      return load();
    }, function (err) { gp.toast(err.message, "error"); load(); });
  }

  function remove(model) {
    gp.confirm("Delete " + model.id + "?", "Clients asking for this model will get model_not_found.").then(function (ok) {
      if (!ok) { return; }
      gp.api("DELETE", url(model)).then(function () { gp.toast("Deleted " + model.id, "ok"); return load(); },
        function (err) { gp.toast(err.message, "error"); });
    });
  }

  function openDialog(model) {
    var form = document.getElementById("model-form");
    editing = model || null;
    form.reset();
    gp.clearErrors(form);
    document.getElementById("model-dialog-title").textContent = model ? "Edit " + model.id : "Add model";
    form.elements.id.readOnly = !!model;
    if (model) {
      TEXT.concat(NUMBERS).forEach(function (name) { form.elements[name].value = model[name]; });
      FLAGS.forEach(function (name) { form.elements[name].checked = model[name]; });
      form.elements.aliases.value = model.aliases.join(", ");
    }
    document.getElementById("model-dialog").showModal();
    form.elements[model ? "name" : "id"].focus();
  }

  function body(form) {
    var data = {};
    TEXT.forEach(function (name) { data[name] = form.elements[name].value.trim(); });
    NUMBERS.forEach(function (name) {
      var raw = form.elements[name].value.trim();
      data[name] = raw === "" ? null : Number(raw);
      if (data[name] === null) { delete data[name]; }
    });
    FLAGS.forEach(function (name) { data[name] = form.elements[name].checked; });
    data.aliases = form.elements.aliases.value.split(/[\s,]+/).filter(function (a) { return a !== ""; });
    return data;
  }

  function save(event) {
    event.preventDefault();
    var form = event.target, button = form.querySelector('button[type="submit"]');
    var request = editing ? gp.api("PUT", url(editing), body(form)) : gp.api("POST", "/api/models", body(form));
    gp.busy(button, true);
    request.then(function (model) {
      gp.busy(button, false);
      document.getElementById("model-dialog").close();
      gp.toast((editing ? "Saved " : "Added ") + model.id, "ok");
      return load();
    }, function (err) { gp.busy(button, false); gp.showErrors(form, err); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.getElementById("add-model").addEventListener("click", function () { openDialog(null); });
    document.getElementById("model-form").addEventListener("submit", save);
    load().catch(function (err) { gp.toast(err.message, "error"); });
  });
})();
