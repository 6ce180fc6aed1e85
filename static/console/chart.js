/* Small SVG charts: the dashboard's hourly bar chart (requests with errors overlaid), sparklines, and the
   usage page's stacked daily bars (one colour per key or model).
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

  function hourLabel(iso) {
    var d = new Date(iso);
    return (d.getHours() < 10 ? "0" : "") + d.getHours() + ":00";
  }

  /* hours: ISO strings (oldest first); requests/errors: numbers per hour. */
  function barChart(container, hours, requests, errors) {
    var width = Math.max(container.clientWidth, 240), height = Math.max(container.clientHeight, 160);
    var pad = { left: 36, right: 8, top: 10, bottom: 24 };
    var plotW = width - pad.left - pad.right, plotH = height - pad.top - pad.bottom;
    var max = niceMax(Math.max.apply(null, requests.concat([0])));
    var slot = plotW / hours.length, barW = Math.max(2, Math.min(28, slot * 0.62));
    var svg = el("svg", { svg: true, attrs: { width: width, height: height, viewBox: "0 0 " + width + " " + height } });

    for (var g = 0; g <= 4; g++) {
      var y = pad.top + plotH - (plotH * g) / 4;
      svg.appendChild(el("line", { svg: true, class: "grid", attrs: { x1: pad.left, x2: width - pad.right, y1: y, y2: y } }));
      svg.appendChild(el("text", { svg: true, class: "axis", text: String((max * g) / 4),
        attrs: { x: pad.left - 6, y: y + 4, "text-anchor": "end" } }));
    }
    var labelEvery = width < 480 ? 6 : width < 800 ? 3 : 2;
    var tip = container.querySelector(".chart-tip") || el("div", { class: "chart-tip", hidden: true });

    hours.forEach(function (hour, i) {
      var x = pad.left + slot * i + (slot - barW) / 2;
      var reqH = (plotH * requests[i]) / max, errH = (plotH * errors[i]) / max;
      var col = el("rect", { svg: true, class: "hover-col", attrs: { x: pad.left + slot * i, y: pad.top, width: slot, height: plotH } });
      var text = hourLabel(hour) + " · " + requests[i] + " requests, " + errors[i] + " errors";
      col.addEventListener("mouseenter", function () {
        tip.textContent = text;
        tip.hidden = false;
        tip.style.left = Math.min(Math.max(x + barW / 2, 90), width - 90) + "px";
        tip.style.top = (pad.top + plotH - reqH) + "px";
      });
      col.addEventListener("mouseleave", function () { tip.hidden = true; });
      svg.appendChild(col);
      if (requests[i] > 0) {
        svg.appendChild(el("rect", { svg: true, class: "bar-req", attrs: { x: x, y: pad.top + plotH - reqH, width: barW, height: Math.max(reqH, 1), rx: 2 } },
          [el("title", { svg: true, text: text })]));
      }
      if (errors[i] > 0) {
        svg.appendChild(el("rect", { svg: true, class: "bar-err", attrs: { x: x, y: pad.top + plotH - errH, width: barW, height: Math.max(errH, 1), rx: 2 } },
          [el("title", { svg: true, text: text })]));
      }
      if (i % labelEvery === (hours.length - 1) % labelEvery) {
        var lx = pad.left + slot * i + slot / 2, anchor = lx + 18 > width ? "end" : "middle";
        svg.appendChild(el("text", { svg: true, class: "axis", text: hourLabel(hour),
          attrs: { x: anchor === "end" ? width - 1 : lx, y: height - 6, "text-anchor": anchor } }));
      }
    });
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
  window.gp.stackedChart = stackedChart;
  window.gp.sparkline = sparkline;
})();
