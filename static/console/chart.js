/* Small SVG charts: the dashboard's bar chart (requests with errors overlaid, per hour or per slot of a
   range), its line chart (latency percentiles), sparklines, and the usage page's stacked daily bars (one
   colour per key or model).
   Drawn at the container's pixel size (not a scaled viewBox) so text stays legible on a phone. */
(function () {
  "use strict";
  var el = window.gp.el;

  /* The top of a y axis with four gridlines: 4 × a round step (1, 2, 2.5, 5 × 10^n; whole numbers only), so
     every gridline's label is the exact, round value it marks (25 requests: 0/10/20/30/40, not 0/6/13/19/25). */
  function niceMax(value) {
    if (value <= 4) { return 4; }
    var raw = value / 4, magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      var step = steps[i] * magnitude;
      if (step >= raw && step === Math.round(step)) { return step * 4; }
    }
    return 40 * magnitude;
  }

  /* Slot labels for a range: times ("14:05") for slots under 3 h, dates ("Dec 5") above. */
  function slotFormat(slotSeconds) {
    var long = slotSeconds >= 3 * 3600;
    return {
      long: long,
      axis: function (iso) {
        var d = new Date(iso);
        return long ? d.toLocaleDateString(undefined, { month: "short", day: "numeric" }) : pad2(d.getHours()) + ":" + pad2(d.getMinutes());
      },
      tip: function (iso) {
        var d = new Date(iso), time = pad2(d.getHours()) + ":" + pad2(d.getMinutes());
        return long ? d.toLocaleDateString(undefined, { month: "short", day: "numeric" }) + ", " + time : time;
      }
    };
  }

  function pad2(n) { return (n < 10 ? "0" : "") + n; }

  /* Which slots get an axis label: round local times (every 1, 2, 5, 10, 15, 30 min or 1, 2, 3, 6, 12 h) for
     short slots, the first slot of a local day (every n-th day) for long ones; at most one per ~70 px. */
  function tickSlots(slots, slotSeconds, plotW) {
    var most = Math.max(2, Math.floor(plotW / 70)), picked = [];
    if (slotSeconds >= 3 * 3600) {
      var starts = [];
      slots.forEach(function (iso, i) {
        if (i > 0 && new Date(iso).getDate() !== new Date(slots[i - 1]).getDate()) { starts.push(i); }
      });
      var every = Math.max(1, Math.ceil(starts.length / most));
      return starts.filter(function (_, k) { return k % every === 0; });
    }
    var steps = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
    var span = slots.length * slotSeconds, step = steps[steps.length - 1];
    for (var s = 0; s < steps.length; s++) {
      if (steps[s] >= slotSeconds && span / steps[s] <= most) { step = steps[s]; break; }
    }
    slots.forEach(function (iso, i) {
      var d = new Date(iso), secondsOfDay = d.getHours() * 3600 + d.getMinutes() * 60;
      if (secondsOfDay % step === 0) { picked.push(i); }
    });
    return picked;
  }

  function xLabels(svg, slots, ticks, format, pad, slot, width, height) {
    ticks.forEach(function (i) {
      var lx = pad.left + slot * i + slot / 2, text = format.axis(slots[i]);
      var anchor = lx + 24 > width ? "end" : lx - 24 < pad.left ? "start" : "middle";
      svg.appendChild(el("text", { svg: true, class: "axis", text: text,
        attrs: { x: anchor === "end" ? width - 1 : lx, y: height - 6, "text-anchor": anchor } }));
    });
  }

  function yGrid(svg, max, pad, plotH, width, label) {
    for (var g = 0; g <= 4; g++) {
      var y = pad.top + plotH - (plotH * g) / 4;
      svg.appendChild(el("line", { svg: true, class: "grid", attrs: { x1: pad.left, x2: width - pad.right, y1: y, y2: y } }));
      svg.appendChild(el("text", { svg: true, class: "axis", text: label((max * g) / 4),
        attrs: { x: pad.left - 6, y: y + 4, "text-anchor": "end" } }));
    }
  }

  function plural(n, word) { return n.toLocaleString() + " " + word + (n === 1 ? "" : "s"); }

  /* slots: ISO strings (oldest first); requests/errors: numbers per slot. slotSeconds: the slot length
     (default an hour), which picks the axis labels. */
  function barChart(container, slots, requests, errors, slotSeconds) {
    slotSeconds = slotSeconds || 3600;
    var format = slotFormat(slotSeconds);
    var width = Math.max(container.clientWidth, 240), height = Math.max(container.clientHeight, 160);
    var pad = { left: 36, right: 8, top: 10, bottom: 24 };
    var plotW = width - pad.left - pad.right, plotH = height - pad.top - pad.bottom;
    var max = niceMax(Math.max.apply(null, requests.concat([0])));
    var slot = plotW / slots.length, barW = Math.max(1, Math.min(28, slot * 0.62));
    var svg = el("svg", { svg: true, attrs: { width: width, height: height, viewBox: "0 0 " + width + " " + height } });
    yGrid(svg, max, pad, plotH, width, function (v) { return compact(v); });
    var tip = container.querySelector(".chart-tip") || el("div", { class: "chart-tip", hidden: true });

    slots.forEach(function (iso, i) {
      var x = pad.left + slot * i + (slot - barW) / 2;
      var reqH = (plotH * requests[i]) / max, errH = (plotH * errors[i]) / max;
      var col = el("rect", { svg: true, class: "hover-col", attrs: { x: pad.left + slot * i, y: pad.top, width: slot, height: plotH } });
      var text = format.tip(iso) + " · " + plural(requests[i], "request") + ", " + plural(errors[i], "error");
      col.addEventListener("mouseenter", function () {
        tip.textContent = text;
        tip.hidden = false;
        tip.style.left = Math.min(Math.max(x + barW / 2, 90), width - 90) + "px";
        tip.style.top = (pad.top + plotH - reqH) + "px";
      });
      col.addEventListener("mouseleave", function () { tip.hidden = true; });
      svg.appendChild(col);
      if (requests[i] > 0) {
        svg.appendChild(el("rect", { svg: true, class: "bar-req", attrs: { x: x, y: pad.top + plotH - reqH, width: barW, height: Math.max(reqH, 1), rx: barW > 4 ? 2 : 0 } },
          [el("title", { svg: true, text: text })]));
      }
      if (errors[i] > 0) {
        svg.appendChild(el("rect", { svg: true, class: "bar-err", attrs: { x: x, y: pad.top + plotH - errH, width: barW, height: Math.max(errH, 1), rx: barW > 4 ? 2 : 0 } },
          [el("title", { svg: true, text: text })]));
      }
    });
    xLabels(svg, slots, tickSlots(slots, slotSeconds, plotW), format, pad, slot, width, height);
    window.gp.clear(container).appendChild(svg);
    tip.hidden = true;
    container.appendChild(tip);
  }

  /* A duration in ms as an axis or table shows it: "850 ms", "1.5 s", "2 min". */
  function ms(value) {
    if (value === null || value === undefined) { return "—"; }
    if (value < 1000) { return Math.round(value) + " ms"; }
    if (value < 120000) { return (Math.round(value / 100) / 10) + " s"; }
    return (Math.round(value / 6000) / 10) + " min";
  }

  /* lines: [{name, cls, values}] with a value (ms) or null per slot; a null breaks the line. */
  function lineChart(container, slots, lines, slotSeconds) {
    var format = slotFormat(slotSeconds);
    var width = Math.max(container.clientWidth, 240), height = Math.max(container.clientHeight, 140);
    var pad = { left: 52, right: 8, top: 10, bottom: 24 };
    var plotW = width - pad.left - pad.right, plotH = height - pad.top - pad.bottom;
    var all = [];
    lines.forEach(function (line) { line.values.forEach(function (v) { if (v !== null) { all.push(v); } }); });
    var max = niceMax(Math.max.apply(null, all.concat([0])));
    var slot = plotW / slots.length;
    var svg = el("svg", { svg: true, attrs: { width: width, height: height, viewBox: "0 0 " + width + " " + height } });
    yGrid(svg, max, pad, plotH, width, function (v) { return v ? ms(v) : "0"; });
    var tip = container.querySelector(".chart-tip") || el("div", { class: "chart-tip", hidden: true });
    function point(i, v) { return [pad.left + slot * i + slot / 2, pad.top + plotH - (plotH * v) / max]; }

    slots.forEach(function (iso, i) {
      var parts = lines.filter(function (l) { return l.values[i] !== null; }).map(function (l) { return l.name + " " + ms(l.values[i]); });
      if (!parts.length) { return; }
      var text = format.tip(iso) + " · " + parts.join(", ");
      var col = el("rect", { svg: true, class: "hover-col", attrs: { x: pad.left + slot * i, y: pad.top, width: slot, height: plotH } },
        [el("title", { svg: true, text: text })]);
      col.addEventListener("mouseenter", function () {
        tip.textContent = text;
        tip.hidden = false;
        tip.style.left = Math.min(Math.max(pad.left + slot * i + slot / 2, 120), width - 120) + "px";
        tip.style.top = pad.top + "px";
      });
      col.addEventListener("mouseleave", function () { tip.hidden = true; });
      svg.appendChild(col);
    });
    lines.forEach(function (line) {
      var d = "", open = false;
      line.values.forEach(function (v, i) {
        if (v === null) { open = false; return; }
        var p = point(i, v);
        d += (open ? " L" : " M") + p[0].toFixed(1) + " " + p[1].toFixed(1);
        var alone = !open && (i + 1 >= line.values.length || line.values[i + 1] === null);
        if (alone) { svg.appendChild(el("circle", { svg: true, class: "dash-dot " + line.cls, attrs: { cx: p[0], cy: p[1], r: 2.5 } })); }
        open = true;
      });
      if (d) { svg.appendChild(el("path", { svg: true, class: "dash-line " + line.cls, attrs: { d: d.trim() } })); }
    });
    xLabels(svg, slots, tickSlots(slots, slotSeconds, plotW), format, pad, slot, width, height);
    window.gp.clear(container).appendChild(svg);
    tip.hidden = true;
    container.appendChild(tip);
  }

  function sparkline(requests, errors) {
    var width = 96, height = 24, slot = width / requests.length;
    var max = Math.max.apply(null, requests.concat([1]));
    var svg = el("svg", { svg: true, class: "spark", attrs: { width: width, height: height, viewBox: "0 0 " + width + " " + height, "aria-hidden": "true" } });
    requests.forEach(function (value, i) {
      var h = value ? Math.max(1.5, (height * value) / max) : 0;
      var e = errors[i] ? Math.max(1.5, (height * errors[i]) / max) : 0;
      if (h) { svg.appendChild(el("rect", { svg: true, class: "bar-req", attrs: { x: i * slot + 0.5, y: height - h, width: slot - 1, height: h } })); }
      if (e) { svg.appendChild(el("rect", { svg: true, class: "bar-err", attrs: { x: i * slot + 0.5, y: height - e, width: slot - 1, height: e } })); }
    });
    return svg;
  }

  function dayLabel(iso) {
    var d = new Date(iso + "T00:00:00Z");
    return d.toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
  }

  function compact(value) {
    if (value >= 1e6) { return (Math.round(value / 1e5) / 10) + "M"; }
    if (value >= 1e4) { return Math.round(value / 1e3) + "k"; }
    return String(Math.round(value));
  }

  /* days: "YYYY-MM-DD" strings (oldest first); series: [{name, values}] drawn stacked in order, colour i. */
  function stackedChart(container, days, series, unit) {
    var width = Math.max(container.clientWidth, 240), height = Math.max(container.clientHeight, 160);
    var pad = { left: 44, right: 8, top: 10, bottom: 24 };
    var plotW = width - pad.left - pad.right, plotH = height - pad.top - pad.bottom;
    var sums = days.map(function (_, i) { return series.reduce(function (a, s) { return a + s.values[i]; }, 0); });
    var max = niceMax(Math.max.apply(null, sums.concat([0])));
    var slot = plotW / days.length, barW = Math.max(2, Math.min(32, slot * 0.7));
    var svg = el("svg", { svg: true, attrs: { width: width, height: height, viewBox: "0 0 " + width + " " + height } });
    for (var g = 0; g <= 4; g++) {
      var y = pad.top + plotH - (plotH * g) / 4;
      svg.appendChild(el("line", { svg: true, class: "grid", attrs: { x1: pad.left, x2: width - pad.right, y1: y, y2: y } }));
      svg.appendChild(el("text", { svg: true, class: "axis", text: compact((max * g) / 4),
        attrs: { x: pad.left - 6, y: y + 4, "text-anchor": "end" } }));
    }
    var labelEvery = Math.max(1, Math.ceil(days.length / Math.max(2, Math.floor(plotW / 64))));
    var tip = container.querySelector(".chart-tip") || el("div", { class: "chart-tip", hidden: true });
    days.forEach(function (day, i) {
      var x = pad.left + slot * i + (slot - barW) / 2, base = pad.top + plotH;
      var parts = series.filter(function (s) { return s.values[i] > 0; })
        .map(function (s) { return s.name + " " + s.values[i]; });
      var text = dayLabel(day) + " · " + sums[i] + " " + unit + (parts.length ? " (" + parts.join(", ") + ")" : "");
      var col = el("rect", { svg: true, class: "hover-col", attrs: { x: pad.left + slot * i, y: pad.top, width: slot, height: plotH } });
      col.addEventListener("mouseenter", function () {
        tip.textContent = text;
        tip.hidden = false;
        tip.style.left = Math.min(Math.max(x + barW / 2, 120), width - 120) + "px";
        tip.style.top = (base - (plotH * sums[i]) / max) + "px";
      });
      col.addEventListener("mouseleave", function () { tip.hidden = true; });
      svg.appendChild(col);
      series.forEach(function (s, k) {
        if (!s.values[i]) { return; }
        var h = Math.max((plotH * s.values[i]) / max, 1);
        base -= h;
        svg.appendChild(el("rect", { svg: true, class: "bar-series series-" + (k % 8), attrs: { x: x, y: base, width: barW, height: h } },
          [el("title", { svg: true, text: text })]));
      });
      if (i % labelEvery === (days.length - 1) % labelEvery) {
        var lx = pad.left + slot * i + slot / 2, anchor = lx + 24 > width ? "end" : "middle";
        svg.appendChild(el("text", { svg: true, class: "axis", text: dayLabel(day),
          attrs: { x: anchor === "end" ? width - 1 : lx, y: height - 6, "text-anchor": anchor } }));
      }
    });
    window.gp.clear(container).appendChild(svg);
    tip.hidden = true;
    container.appendChild(tip);
  }

  window.gp.barChart = barChart;
  window.gp.lineChart = lineChart;
  window.gp.ms = ms;
  window.gp.plural = plural;
  window.gp.stackedChart = stackedChart;
  window.gp.sparkline = sparkline;
})();
