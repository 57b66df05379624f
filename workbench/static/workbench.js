// Workbench live updates: inbox notices, thread messages and delivery states, countdowns.
(function () {
  "use strict";
  var csrf = document.body.dataset.csrf;
  var conversation = document.getElementById("conversation");
  var inbox = document.getElementById("inbox");
  var list = document.getElementById("messages");

  // A message's words in the page's language: they are on <body> (data-t-*, base.html), as countdown.js's are, the
  // same catalogue texts _message.html shows when the server draws a message; English if a page has none.
  var words = document.body.dataset;
  function word(name, english) { return words["t" + name] || english; }
  // A delivery state (data-t-delivery-<state>); a state without one shows as its words, like the server's |code filter.
  function deliveryWord(state) {
    state = String(state || "");
    return words["tDelivery" + state.charAt(0).toUpperCase() + state.slice(1)] || state.replace(/_/g, " ");
  }

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
    var who = m.author === "agent" ? (m.agent_name || word("Agent", "Agent"))
      : (m.author === "bot" ? word("Bot", "Bot") : word("Customer", "Customer"));
    var meta = el("div", "meta", who + " · ");
    meta.appendChild(window.incsTimes.tag(m.created_at));
    if (m.direction === "note") meta.appendChild(document.createTextNode(" · " + word("InternalNote", "internal note")));
    li.appendChild(meta);
    if (m.attachment_id && !m.filename && m.author === "customer") m.filename = m.text;
    if (m.text && !(m.attachment_id && m.text === m.filename)) li.appendChild(el("div", "text", m.text));
    if (m.attachment_id) {
      li.appendChild(fileLink(m));
      var player = mediaPlayer(m);
      if (player) li.appendChild(player);
    }
    if (m.latitude !== null && m.latitude !== undefined) {
      li.appendChild(el("div", "location", "📍 " + m.latitude.toFixed(5) + ", " + m.longitude.toFixed(5)));
    }
    if (m.direction === "out") {
      var s = el("div", "state", deliveryWord(m.delivery_state));
      s.dataset.state = m.delivery_state;
      li.appendChild(s);
    }
    var follow = nearBottom();
    list.appendChild(li);
    if (follow) list.scrollTop = list.scrollHeight;  // reading older messages: keep the place
  }

  function nearBottom() { return list.scrollHeight - list.scrollTop - list.clientHeight < 80; }

  // Voice notes, audio and video play in place; nothing is fetched until the agent presses play.
  function mediaPlayer(m) {
    var kind = (m.mime_type || "").split("/")[0];
    if (kind !== "audio" && kind !== "video") return null;
    var player = el(kind, "player");
    player.controls = true;
    player.preload = "none";
    player.src = "/workbench/files/" + m.attachment_id;
    player.setAttribute("aria-label", m.filename || word("File", "file"));
    return player;
  }

  function fileLink(m) {
    var a = el("a", "file", "📎 " + (m.filename || word("File", "file")));
    a.href = "/workbench/files/" + m.attachment_id;
    a.target = "_blank"; a.rel = "noopener";
    var image = m.mime_type ? m.mime_type.indexOf("image/") === 0 && m.mime_type !== "image/svg+xml" : m.kind === "photo";
    if (image) {
      var img = el("img", "thumb");
      img.src = a.href; img.alt = m.filename || word("Photo", "photo");
      a.appendChild(img);
    }
    return a;
  }

  function markDelivery(ev) {
    if (!list) return;
    var li = list.querySelector('[data-id="' + ev.message_id + '"]');
    if (!li) return;
    var s = li.querySelector(".state");
    if (s) { s.textContent = deliveryWord(ev.state); s.dataset.state = ev.state; }
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
      if (!li.querySelector(".deleted")) addMark(li, "deleted", word("Deleted", "deleted by the customer"));
      return;
    }
    if (!li.querySelector(".edited")) addMark(li, "edited", word("Edited", "edited"));
  }

  // " · <span class=edited>edited</span>" after the message's meta line, as _message.html writes it.
  function addMark(li, cls, text) {
    var meta = li.querySelector(".meta");
    meta.appendChild(document.createTextNode(" · "));
    meta.appendChild(el("span", cls, text));
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
      else if (ev.type === "inbox" && inbox && window.incsInbox) window.incsInbox.update(ev);
      else if (ev.type === "conversation" && ev.status && inbox && window.incsInbox) window.incsInbox.statusChanged(ev);
      else if (ev.type === "typing" && conversation) customerTyping();
    };
    ws.onclose = function () { setTimeout(connect, 2000); };
  }

  var form = document.getElementById("reply-form");
  if (form) {
    var replyError = document.getElementById("reply-error");
    var showReplyError = function (message) {
      replyError.textContent = message;
      replyError.hidden = !message;
      document.getElementById("reply-text").setAttribute("aria-invalid", message ? "true" : "false");
    };
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var data = new FormData(form);
      var file = document.getElementById("reply-file");
      if (!String(data.get("text") || "").trim() && !(file && file.files.length)) {
        showReplyError(replyError.dataset.empty);
        document.getElementById("reply-text").focus();
        return;
      }
      fetch(form.action, { method: "POST", body: data, headers: { "Accept": "application/json", "X-CSRF-Token": csrf }, credentials: "same-origin" })
        .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
        .then(function (res) {
          if (!res.ok) { showReplyError(res.body.message || replyError.dataset.failed); return; }
          showReplyError("");
          form.reset();
          renderMessage(res.body.message);
        })
        .catch(function () { showReplyError(replyError.dataset.failed); });
    });
    document.getElementById("reply-text").addEventListener("input", function () { showReplyError(""); });
  }

  // ---- Typing indicators: the customer's (shown here) and ours (sent, at most every 3 s) ----
  var typingTimer = null;
  function customerTyping() {
    var line = document.getElementById("customer-typing");
    if (!line) return;
    line.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { line.hidden = true; }, 6000);
  }
  var replyBox = document.getElementById("reply-text");
  var lastTyping = 0;
  if (replyBox && conversation) replyBox.addEventListener("input", function () {
    if (!replyBox.value || replyBox.value.charAt(0) === "/" || Date.now() - lastTyping < 3000) return;
    lastTyping = Date.now();
    fetch("/workbench/conversations/" + conversation.dataset.conversation + "/typing",
      { method: "POST", credentials: "same-origin", headers: { "Accept": "application/json", "X-CSRF-Token": csrf } });
  });

  if (list) list.scrollTop = list.scrollHeight;  // a conversation opens at its newest message
  connect();
})();
