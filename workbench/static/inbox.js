// Live inbox: a new message moves its row to the top and updates it in place; a conversation not on the
// page is fetched as one server-rendered row. The tab title carries the unread count.
(function () {
  "use strict";
  var inbox = document.getElementById("inbox");
  if (!inbox) return;
  var rows = document.getElementById("inbox-rows");
  var baseTitle = document.title;
  var pending = {};

  function unreadTotal() {
    var total = 0;
    rows.querySelectorAll(".unread-cell .badge").forEach(function (b) { total += Number(b.textContent) || 0; });
    return total;
  }

  function updateTitle() {
    var total = unreadTotal();
    document.title = total ? "(" + total + ") " + baseTitle : baseTitle;
  }

  function toTop(tr) {
    var empty = rows.querySelector(".empty-row");
    if (empty) empty.remove();
    rows.insertBefore(tr, rows.firstChild);
  }

  function bump(tr, ev) {
    var preview = tr.querySelector(".preview");
    if (preview && ev.text) preview.textContent = ev.text.replace(/\s+/g, " ").slice(0, 140);
    var cell = tr.querySelector(".unread-cell");
    if (ev.direction === "in") {
      var badge = cell.querySelector(".badge");
      if (!badge) { badge = document.createElement("span"); badge.className = "badge"; badge.textContent = "0"; cell.appendChild(badge); }
      badge.textContent = String(Number(badge.textContent) + 1);
      tr.classList.add("unread");
    }
    toTop(tr);
  }

  function fetchRow(ev) {
    if (pending[ev.conversation_id]) return;
    pending[ev.conversation_id] = true;
    var url = "/workbench/inbox/rows/" + ev.conversation_id + "?status=" + encodeURIComponent(inbox.dataset.status) +
      "&mine=" + encodeURIComponent(inbox.dataset.mine || "");
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.status === 200 ? r.text() : ""; })
      .then(function (html) {
        delete pending[ev.conversation_id];
        if (!html || rows.querySelector('tr[data-conversation="' + ev.conversation_id + '"]')) return;
        var holder = document.createElement("tbody");
        holder.innerHTML = html;  // our own server-rendered, autoescaped row
        var tr = holder.querySelector("tr");
        if (!tr) return;
        toTop(tr);
        if (window.incsTimes) tr.querySelectorAll("time[datetime]").forEach(window.incsTimes.localize);
        updateTitle();
      })
      .catch(function () { delete pending[ev.conversation_id]; });
  }

  function update(ev) {
    var tr = rows.querySelector('tr[data-conversation="' + ev.conversation_id + '"]');
    if (tr) { bump(tr, ev); updateTitle(); } else fetchRow(ev);
  }

  function statusChanged(ev) {
    // Another agent (or the snooze sweep) changed a status: the row leaves this tab or comes back in.
    var tr = rows.querySelector('tr[data-conversation="' + ev.conversation_id + '"]');
    if (tr && tr.dataset.status !== ev.status) { tr.remove(); updateTitle(); }
    else if (!tr) fetchRow(ev);
  }

  window.incsInbox = { update: update, statusChanged: statusChanged };
  updateTitle();
})();
