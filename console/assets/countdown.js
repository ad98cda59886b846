// Live countdowns for the complaint pages: <b data-due="UNIX_MS"> shows the time
// left to a 10-30-24 limit ("剩 7 分 42 秒", "剩 23 时 5 分"), or past it
// ("超时 3 分 05 秒") in red. The server renders the same text to the minute,
// so without JavaScript it is right at load time.
(function () {
  "use strict";
  // Units spelled out, as the server writes them ("剩 5 时 3 分"): a bare
  // "3:57" reads as hours or as minutes. Under an hour the seconds tick too.
  function fmt(ms) {
    var s = Math.floor(Math.abs(ms) / 1000), h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var t = h ? h + " 时 " + m + " 分" : m + " 分 " + (sec < 10 ? "0" : "") + sec + " 秒";
    return (ms < 0 ? "超时 " : "剩 ") + t;
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var left = parseInt(el.getAttribute("data-due"), 10) - now;
      el.textContent = fmt(left);
      var row = el.closest("tr");
      if (left < 0) {
        el.classList.add("late");
        if (row) row.classList.add("overdue");
      } else if (row && left < 5 * 60 * 1000) {
        row.classList.add("soon");
      }
    });
  }
  tick();
  setInterval(tick, 1000);
  document.body.addEventListener("htmx:afterSwap", tick);
})();
