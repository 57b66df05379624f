// SLA countdowns: tick every second from the stored due time and recolour without a reload.
// green while more than half of the target is left, amber after half, red once at risk, "overdue 3 h" past due.
// Time is the server's: data-server-now (on the page or the inbox) fixes the offset of this browser's clock.
(function () {
  "use strict";
  var holder = document.querySelector("[data-server-now]");
  var offset = holder && holder.dataset.serverNow ? Date.parse(holder.dataset.serverNow) - Date.now() : 0;

  // The page's language: templates with {placeholders}, from the body's data-t-* attributes (base.html).
  var words = document.body.dataset;
  function say(key, fallback, values) {
    return (words[key] || fallback).replace(/\{(\w+)\}/g, function (all, name) { return name in values ? values[name] : all; });
  }

  function span(ms) {
    var minutes = Math.floor(Math.abs(ms) / 60000);
    var days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
    if (days) return say("tDays", "{d} d {h} h", {d: days, h: hours});
    if (hours) return say("tHours", "{h} h {m} m", {h: hours, m: mins});
    return say("tMinutes", "{m} m", {m: mins});
  }

  function paint(node, now) {
    var due = Date.parse(node.dataset.due), risk = Date.parse(node.dataset.risk), half = Date.parse(node.dataset.half);
    var state = now >= due ? "overdue" : now >= risk ? "red" : now >= half ? "amber" : "green";
    node.classList.remove("sla-green", "sla-amber", "sla-red", "sla-overdue");
    node.classList.add("sla-" + state);
    node.dataset.state = state;
    node.textContent = state === "overdue" ? say("tOverdue", "overdue {span}", {span: span(now - due)})
      : say("tLeft", "{span} left", {span: span(due - now)});
    node.title = say("tDue", "due {time}", {time: node.dataset.due});
  }

  function tick() {
    var now = Date.now() + offset;
    document.querySelectorAll(".countdown[data-due]").forEach(function (node) { paint(node, now); });
  }

  tick();
  setInterval(tick, 1000);
})();
