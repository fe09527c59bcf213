// oomkit's pages: bars, uPlot charts from embedded JSON, program buttons. No inline script (CSP).
"use strict";
(function () {
  var MiB = 1024; // series are in kB
  var charts = [];

  function bars() {
    document.querySelectorAll("[data-pct]").forEach(function (el) {
      el.style.width = Math.max(0, Math.min(100, parseFloat(el.dataset.pct) || 0)) + "%";
    });
  }

  function mib(v) { return v == null ? null : v / MiB; }
  function fmtMiB(u, v) { return v == null ? "-" : (Math.abs(v) >= 1024 ? (v / 1024).toFixed(1) + " GiB" : v.toFixed(0) + " MiB"); }

  var KINDS = {
    system: {
      series: [
        { key: "mem_available_kb", label: "available", stroke: "#2a7", fill: "rgba(34,170,119,0.12)", scale: "mem", conv: mib },
        { key: "mem_total_kb", label: "RAM", stroke: "#888", dash: [4, 4], scale: "mem", conv: mib },
        { key: "swap_free_kb", label: "swap free", stroke: "#37c", scale: "mem", conv: mib },
        { key: "psi_some_avg10", label: "PSI some %", stroke: "#d53", scale: "%", conv: function (v) { return v; } }
      ]
    },
    process: {
      series: [
        { key: "rss_kb", label: "RSS", stroke: "#d53", fill: "rgba(221,85,51,0.12)", scale: "mem", conv: mib },
        { key: "anon_kb", label: "anon", stroke: "#a5c", scale: "mem", conv: mib },
        { key: "swap_kb", label: "swap", stroke: "#37c", scale: "mem", conv: mib }
      ]
    },
    cgroup: {
      series: [
        { key: "usage_kb", label: "usage", stroke: "#d53", fill: "rgba(221,85,51,0.12)", scale: "mem", conv: mib },
        { key: "limit_kb", label: "limit", stroke: "#888", dash: [4, 4], scale: "mem", conv: mib }
      ]
    }
  };

  function chartWidth(el) { return Math.max(260, el.clientWidth || 600); }

  function drawChart(el) {
    var src = document.getElementById(el.dataset.chart);
    if (!src || typeof uPlot === "undefined") { return; }
    var doc = JSON.parse(src.textContent);
    var kind = KINDS[el.dataset.kind] || KINDS.system;
    var data = [doc.t];
    var series = [{}];
    var hasPct = false;
    kind.series.forEach(function (s) {
      var col = doc.series[s.key];
      if (!col || !col.some(function (v) { return v != null; })) { return; }
      data.push(col.map(s.conv));
      series.push({ label: s.label, stroke: s.stroke, fill: s.fill, dash: s.dash, scale: s.scale, width: 1.5,
                    value: s.scale === "%" ? function (u, v) { return v == null ? "-" : v.toFixed(1) + " %"; } : fmtMiB });
      if (s.scale === "%") { hasPct = true; }
    });
    var mark = el.dataset.mark ? parseFloat(el.dataset.mark) : null;
    var axes = [{}, { scale: "mem", values: function (u, vals) { return vals.map(function (v) { return fmtMiB(u, v); }); }, size: 70 }];
    if (hasPct) { axes.push({ scale: "%", side: 1, grid: { show: false }, values: function (u, vals) { return vals.map(function (v) { return v + "%"; }); } }); }
    var opts = {
      width: chartWidth(el), height: window.innerWidth < 600 ? 200 : 260,
      series: series, axes: axes,
      scales: {
        x: { time: true, range: function (u, lo, hi) { return mark != null ? [Math.min(lo, mark), Math.max(hi, mark)] : [lo, hi]; } },
        mem: { range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.05 : 1]; } }, "%": { range: [0, 100] }
      },
      legend: { live: true },
      hooks: {
        draw: [function (u) {
          if (mark != null) {
            var x = u.valToPos(mark, "x", true);
            var ctx = u.ctx;
            ctx.save(); ctx.strokeStyle = "#c00"; ctx.lineWidth = 2; ctx.setLineDash([6, 3]);
            ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke(); ctx.restore();
          }
          if (!el.dataset.drawn) {
            el.dataset.drawn = "1";
            var n = document.querySelectorAll(".chart[data-drawn]").length;
            document.documentElement.dataset.chartsDrawn = String(n);
            if (window.performance && performance.mark) { performance.mark("oomkit-chart-" + n); }
          }
        }]
      }
    };
    var plot = new uPlot(opts, data, el);
    charts.push([plot, el]);
  }

  function allCharts() {
    document.querySelectorAll(".chart[data-chart]").forEach(drawChart);
    var t = null;
    window.addEventListener("resize", function () {
      clearTimeout(t);
      t = setTimeout(function () { charts.forEach(function (c) { c[0].setSize({ width: chartWidth(c[1]), height: c[0].height }); }); }, 150);
    });
  }

  function say(text, bad) {
    var el = document.getElementById("action-result");
    if (!el) { return; }
    el.textContent = text;
    el.classList.remove("hidden");
    el.classList.toggle("bad", !!bad);
  }

  function post(url) {
    return fetch(url, { method: "POST", credentials: "same-origin", headers: { "X-Oomkit-Request": "1" } })
      .then(function (r) { return r.json().then(function (body) { return [r.ok, body]; }); });
  }

  function refreshPrograms(times) {
    fetch("/api/v1/programs", { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (doc) {
      (doc.programs || []).forEach(function (p) {
        var card = document.querySelector('[data-program="' + CSS.escape(p.name) + '"]');
        if (!card) { return; }
        var st = card.querySelector('[data-field="state"]');
        if (st) { st.textContent = p.state.toUpperCase(); st.className = "badge st-" + p.state; }
        var pid = card.querySelector('[data-field="pid"]');
        if (pid) { pid.textContent = p.pid == null ? "-" : String(p.pid); }
        card.dataset.pid = p.pid == null ? "" : String(p.pid);
        card.dataset.state = p.state;
      });
      if (times > 1) { setTimeout(function () { refreshPrograms(times - 1); }, 500); }
    }).catch(function () {});
  }

  function buttons() {
    document.querySelectorAll("button[data-action]").forEach(function (b) {
      b.addEventListener("click", function () {
        var name = b.dataset.name, action = b.dataset.action;
        b.disabled = true;
        post("/api/v1/programs/" + encodeURIComponent(name) + "/" + action).then(function (res) {
          say(res[0] ? (res[1].result || action + " " + name) : (res[1].error || "failed"), !res[0]);
          refreshPrograms(10);
        }).catch(function (e) { say(String(e), true); }).finally(function () { b.disabled = false; });
      });
    });
    document.querySelectorAll("button[data-log]").forEach(function (b) {
      b.addEventListener("click", function () {
        var name = b.dataset.log;
        var pre = document.querySelector('[data-log-for="' + CSS.escape(name) + '"]');
        fetch("/api/v1/programs/" + encodeURIComponent(name) + "/log?lines=200", { credentials: "same-origin" })
          .then(function (r) { return r.text(); })
          .then(function (t) { pre.textContent = t || "(no output)"; pre.classList.toggle("hidden"); });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { bars(); allCharts(); buttons(); });
})();
