// Keyboard shortcuts of the workbench, listed on the `?` overlay. Letters act only outside text fields.
(function () {
  "use strict";
  var overlay = document.getElementById("shortcuts");
  if (!overlay) return;
  var conversation = document.getElementById("conversation");
  var csrf = document.body.dataset.csrf;

  function typing(target) {
    return target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT" || target.isContentEditable);
  }

  function post(path, fields) {
    var body = new URLSearchParams(fields);
    return fetch(path, { method: "POST", body: body, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf } }).then(function () { location.replace(location.href); });
  }

  function toggleOverlay(open) {
    overlay.hidden = !open;
    if (open) overlay.querySelector("button").focus();
  }

  function inboxRows() { return Array.prototype.slice.call(document.querySelectorAll("#inbox-rows tr[data-conversation]")); }

  function moveInInbox(step) {
    var rows = inboxRows();
    if (!rows.length) return;
    var current = rows.findIndex(function (r) { return r.classList.contains("selected"); });
    var next = Math.max(0, Math.min(rows.length - 1, current + step));
    rows.forEach(function (r) { r.classList.remove("selected"); });
    rows[next].classList.add("selected");
    rows[next].querySelector("a").focus();
  }

  overlay.querySelector("button").addEventListener("click", function () { toggleOverlay(false); });

  document.addEventListener("keydown", function (ev) {
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "Enter" && ev.target && ev.target.id === "reply-text") {
      ev.preventDefault();
      document.getElementById("reply-form").requestSubmit();
      return;
    }
    if (ev.key === "Escape" && !overlay.hidden) { toggleOverlay(false); return; }
    if (typing(ev.target) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (ev.key === "?") { ev.preventDefault(); toggleOverlay(overlay.hidden); return; }
    if (!conversation) {
      if (ev.key === "j") moveInInbox(1);
      else if (ev.key === "k") moveInInbox(-1);
      return;
    }
    var id = conversation.dataset.conversation;
    if (ev.key === "j" && conversation.dataset.older) location.href = "/workbench/conversations/" + conversation.dataset.older;
    else if (ev.key === "k" && conversation.dataset.newer) location.href = "/workbench/conversations/" + conversation.dataset.newer;
    else if (ev.key === "a") post("/workbench/conversations/" + id + "/assign", { assignee_id: conversation.dataset.agent });
    else if (ev.key === "e") post("/workbench/conversations/" + id + "/status", { status: "resolved" });
    else if (ev.key === "r") { ev.preventDefault(); document.getElementById("reply-text").focus(); }
  });
})();
