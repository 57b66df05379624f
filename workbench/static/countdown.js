// SLA countdowns: tick every second from the stored due time and recolour without a reload.
// green while more than half of the target is left, amber after half, red once at risk, "overdue 3 h" past due.
// Time is the server's: data-server-now (on the page or the inbox) fixes the offset of this browser's clock.
(function () {
  "use strict";
  var holder = document.querySelector("[data-server-now]");
  var offset = holder && holder.dataset.serverNow ? Date.parse(holder.dataset.serverNow) - Date.now() : 0;

  function span(ms) {
    var minutes = Math.floor(Math.abs(ms) / 60000);
    var days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
    if (days) return days + " d " + hours + " h";
    if (hours) return hours + " h " + mins + " m";
    return mins + " m";
  }

  function paint(node, now) {
    var due = Date.parse(node.dataset.due), risk = Date.parse(node.dataset.risk), half = Date.parse(node.dataset.half);
    var state = now >= due ? "overdue" : now >= risk ? "red" : now >= half ? "amber" : "green";
    node.classList.remove("sla-green", "sla-amber", "sla-red", "sla-overdue");
    node.classList.add("sla-" + state);
    node.dataset.state = state;
    node.textContent = state === "overdue" ? "overdue " + span(now - due) : span(due - now) + " left";
    node.title = "due " + node.dataset.due;
  }

  function tick() {
    var now = Date.now() + offset;
    document.querySelectorAll(".countdown[data-due]").forEach(function (node) { paint(node, now); });
  }

  tick();
  setInterval(tick, 1000);
})();
