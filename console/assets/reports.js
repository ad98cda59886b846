// Charts of the report page, drawn with ECharts from the JSON the server put in
// #report-data. SVG renderer: crisp on paper, and resized for A4 before printing.
(function () {
  "use strict";
  var el = document.getElementById("report-data");
  if (!el || !window.echarts) return;
  var d = JSON.parse(el.textContent);
  var red = "#b3261e", blue = "#1f5fbf", green = "#1e7b34", amber = "#9a5b00", grey = "#66707a";
  var charts = [];
  function chart(id, option) {
    var node = document.getElementById(id);
    if (!node) return;
    var c = echarts.init(node, null, { renderer: "svg" });
    option.animation = false;
    if (option.title) option.title.left = 0;
    if (option.empty) {
      option.graphic = [{ type: "text", left: "center", top: "middle", style: { text: option.empty, fill: grey, fontSize: 14 } }];
      delete option.empty;
    }
    option.textStyle = { fontFamily: "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, sans-serif" };
    c.setOption(option);
    charts.push(c);
    node.setAttribute("data-rendered", "1");
  }
  var a = d.activities;
  chart("chart-activities", {
    title: { text: "各板块场次与服务人次", textStyle: { fontSize: 14 } },
    tooltip: { trigger: "axis" }, legend: { right: 0, top: 0, data: ["场次", "人次"] },
    // The axis names sit above the plot: room for them under the legend, and
    // whole numbers only (there is no half a session).
    grid: { left: 48, right: 48, top: 66, bottom: 28 },
    xAxis: { type: "category", data: a.labels },
    yAxis: [{ type: "value", name: "场次", minInterval: 1 }, { type: "value", name: "人次", minInterval: 1 }],
    series: [
      { name: "场次", type: "bar", data: a.sessions, itemStyle: { color: blue }, label: { show: true, position: "top" } },
      { name: "人次", type: "bar", yAxisIndex: 1, data: a.attendances, itemStyle: { color: red }, label: { show: true, position: "top" } }
    ]
  });
  var steps = [["accept", d.limits[0]], ["contact", d.limits[1]], ["resolve", d.limits[2]]];
  chart("chart-ontime", {
    title: { text: "三项时限按时率", textStyle: { fontSize: 14 } },
    tooltip: {}, grid: { left: 90, right: 40, top: 40, bottom: 24 },
    xAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
    yAxis: { type: "category", data: steps.map(function (s) { return s[1]; }), inverse: true },
    empty: steps.some(function (s) { return d.onTime[s[0]] && d.onTime[s[0]].due > 0; }) ? "" : "暂无到期的工单",
    series: [{ type: "bar", barWidth: 18, label: { show: true, position: "right", formatter: function (p) { return p.value == null ? "—" : p.value + "%"; } },
      data: steps.map(function (s) {
        var r = d.onTime[s[0]] && d.onTime[s[0]].rate;
        var v = r == null ? null : Math.round(r * 1000) / 10;
        return { value: v, itemStyle: { color: v == null ? grey : v >= 90 ? green : v >= 70 ? amber : red } };
      }) }]
  });
  var m = d.monthly || [];
  chart("chart-monthly", {
    title: { text: "月度趋势", textStyle: { fontSize: 14 } },
    tooltip: { trigger: "axis" }, legend: { right: 0, top: 0, data: ["收到", "办结"] },
    grid: { left: 40, right: 20, top: 40, bottom: 28 },
    xAxis: { type: "category", data: m.map(function (x) { return x.month.slice(5) + "月"; }) },
    yAxis: { type: "value", minInterval: 1 },
    series: [
      { name: "收到", type: "line", data: m.map(function (x) { return x.received; }), itemStyle: { color: red }, symbolSize: 6 },
      { name: "办结", type: "line", data: m.map(function (x) { return x.closed; }), itemStyle: { color: green }, symbolSize: 6 }
    ]
  });
  var cats = Object.keys(d.category || {}).map(function (k) { return { name: k, value: d.category[k] }; })
    .filter(function (x) { return x.value > 0; }).sort(function (x, y) { return y.value - x.value; });
  chart("chart-category", {
    title: { text: "工单类别", textStyle: { fontSize: 14 } },
    tooltip: {}, grid: { left: 70, right: 40, top: 36, bottom: 20 },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", inverse: true, data: cats.map(function (x) { return x.name; }) },
    empty: cats.length ? "" : "暂无工单",
    series: [{ type: "bar", barWidth: 14, data: cats.map(function (x) { return x.value; }), itemStyle: { color: blue }, label: { show: true, position: "right" } }]
  });
  var rising = d.rising || [];
  chart("chart-rising", {
    title: { text: "上升类别（近三个月）", textStyle: { fontSize: 14 } },
    tooltip: { trigger: "axis" }, legend: { right: 0, top: 0, data: ["前三个月", "近三个月"] },
    grid: { left: 70, right: 20, top: 40, bottom: 20 },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", inverse: true, data: rising.map(function (x) { return x.category; }) },
    series: [
      { name: "前三个月", type: "bar", data: rising.map(function (x) { return x.previous; }), itemStyle: { color: grey } },
      { name: "近三个月", type: "bar", data: rising.map(function (x) { return x.recent; }), itemStyle: { color: red } }
    ],
    empty: rising.length ? "" : "没有上升的类别"
  });
  function resize() { charts.forEach(function (c) { c.resize(); }); }
  window.addEventListener("resize", resize);
  window.addEventListener("beforeprint", resize);
  window.addEventListener("afterprint", resize);
  document.querySelectorAll("[data-print]").forEach(function (b) { b.addEventListener("click", function () { window.print(); }); });
})();
