// 南天社区控制台: small enhancements over pages that work without JavaScript.
(function () {
  "use strict";
  var csrf = document.body.getAttribute("data-csrf") || "";

  // htmx requests carry the session's CSRF token as a header.
  document.body.addEventListener("htmx:configRequest", function (e) {
    if (csrf) e.detail.headers["X-CSRF-Token"] = csrf;
  });

  // Countdowns: <span data-countdown="120"> counts down to 0 every second.
  document.querySelectorAll("[data-countdown]").forEach(function (el) {
    var end = Date.now() + parseInt(el.getAttribute("data-countdown"), 10) * 1000;
    var tick = function () {
      var s = Math.max(0, Math.round((end - Date.now()) / 1000));
      el.textContent = s;
      if (s > 0) setTimeout(tick, 1000);
    };
    tick();
  });

  // "Select all" checkboxes: <input type=checkbox data-select-all="name">.
  document.querySelectorAll("[data-select-all]").forEach(function (box) {
    box.addEventListener("change", function () {
      var name = box.getAttribute("data-select-all");
      document.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (b) { b.checked = box.checked; });
    });
  });

  // The check-in box: a scanner types the code and Enter, often faster than the
  // server answers. Every scan becomes its own request at once (the input is
  // cleared and keeps focus), and each answer lands in the scan log in the
  // order scanned, so no scan is lost or merged with the next.
  document.querySelectorAll("form[data-checkin]").forEach(function (form) {
    var input = form.querySelector("input[name=code]");
    var log = document.getElementById(form.getAttribute("data-checkin"));
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var code = input.value.trim();
      input.value = "";
      input.focus();
      if (!code) return;
      var li = document.createElement("li");
      li.className = "pending";
      li.textContent = code + " …";
      log.insertBefore(li, log.firstChild);
      var body = new FormData(form);
      body.set("code", code);
      fetch(form.action, { method: "POST", body: body, credentials: "same-origin",
        headers: { "HX-Request": "true", "X-CSRF-Token": csrf } })
        .then(function (r) {
          if (r.status === 401) { window.location = "/console/login"; return ""; }
          return r.text();
        })
        .then(function (html) {
          if (!html) return;
          var tpl = document.createElement("template");
          tpl.innerHTML = html.trim();
          var fresh = tpl.content.firstElementChild;
          if (fresh) li.replaceWith(fresh);
          document.body.dispatchEvent(new CustomEvent("checked-in"));
        })
        .catch(function () {
          li.className = "error";
          li.textContent = code + " 网络错误，请重扫";
        });
    });
  });

  // Keyboard: "/" jumps to the page's main input (the check-in box, a search).
  document.addEventListener("keydown", function (e) {
    if (e.key !== "/" || /INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName)) return;
    var target = document.querySelector("[data-hotkey-focus]");
    if (target) { e.preventDefault(); target.focus(); }
  });
})();
