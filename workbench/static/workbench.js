// Workbench live updates: inbox notices, thread messages and delivery states, countdowns.
(function () {
  "use strict";
  var csrf = document.body.dataset.csrf;
  var conversation = document.getElementById("conversation");
  var inbox = document.getElementById("inbox");
  var list = document.getElementById("messages");

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function renderMessage(m) {
    if (!list || list.querySelector('[data-id="' + m.id + '"]')) return;
    var li = el("li", "msg msg-" + m.direction + " author-" + m.author);
    li.dataset.id = m.id;
    var who = m.author === "agent" ? (m.agent_name || "Agent") : (m.author === "bot" ? "Bot" : "Customer");
    li.appendChild(el("div", "meta", who + " · " + m.created_at + (m.direction === "note" ? " · internal note" : "")));
    if (m.text) li.appendChild(el("div", "text", m.text));
    if (m.attachment_id) {
      var a = el("a", "file", "📎 file #" + m.attachment_id);
      a.href = "/workbench/files/" + m.attachment_id;
      li.appendChild(a);
    }
    if (m.latitude !== null && m.latitude !== undefined) {
      li.appendChild(el("div", "location", "📍 " + m.latitude.toFixed(5) + ", " + m.longitude.toFixed(5)));
    }
    if (m.direction === "out") {
      var s = el("div", "state", m.delivery_state);
      s.dataset.state = m.delivery_state;
      li.appendChild(s);
    }
    list.appendChild(li);
    li.scrollIntoView({ block: "end" });
  }

  function markDelivery(ev) {
    if (!list) return;
    var li = list.querySelector('[data-id="' + ev.message_id + '"]');
    if (!li) return;
    var s = li.querySelector(".state");
    if (s) { s.textContent = ev.state; s.dataset.state = ev.state; }
  }

  function markEdited(m) {
    if (!list) return;
    var li = list.querySelector('[data-id="' + m.id + '"]');
    if (!li) return;
    var text = li.querySelector(".text");
    if (text) text.textContent = m.text;
    if (m.deleted) {
      var file = li.querySelector(".file");
      if (file) file.remove();
      if (!li.querySelector(".deleted")) li.querySelector(".meta").appendChild(el("span", "deleted", " · deleted by the customer"));
      return;
    }
    if (!li.querySelector(".edited")) li.querySelector(".meta").appendChild(el("span", "edited", " · edited"));
  }

  function connect() {
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(proto + location.host + "/workbench/ws");
    ws.onopen = function () {
      if (conversation) ws.send(JSON.stringify({ type: "watch", conversation_id: Number(conversation.dataset.conversation) }));
    };
    ws.onmessage = function (e) {
      var ev = JSON.parse(e.data);
      if (ev.type === "message" && conversation && String(ev.conversation_id) === conversation.dataset.conversation) renderMessage(ev.message);
      else if (ev.type === "delivery") markDelivery(ev);
      else if (ev.type === "message_edited") markEdited(ev.message);
      else if (ev.type === "conversation" && inbox) document.getElementById("inbox-live").hidden = false;
    };
    ws.onclose = function () { setTimeout(connect, 2000); };
  }

  var form = document.getElementById("reply-form");
  if (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var data = new FormData(form);
      fetch(form.action, { method: "POST", body: data, headers: { "Accept": "application/json", "X-CSRF-Token": csrf }, credentials: "same-origin" })
        .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
        .then(function (res) {
          if (!res.ok) { alert(res.body.message || "The reply was not sent."); return; }
          form.reset();
          renderMessage(res.body.message);
        });
    });
  }

  function tick() {
    document.querySelectorAll("time.since").forEach(function (t) {
      var ms = Date.now() - Date.parse(t.getAttribute("datetime"));
      var min = Math.max(0, Math.floor(ms / 60000));
      t.textContent = min < 60 ? min + " min" : Math.floor(min / 60) + " h " + (min % 60) + " min";
    });
  }
  tick();
  setInterval(tick, 30000);
  connect();
})();
