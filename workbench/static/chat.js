// Web chat widget: one websocket, history on connect, live messages, uploads, location.
(function () {
  "use strict";
  var body = document.body;
  var org = body.dataset.org;
  var log = document.getElementById("chat-log");
  var form = document.getElementById("chat-form");
  var input = document.getElementById("chat-input");
  var fileInput = document.getElementById("chat-file");
  var errorBox = document.getElementById("chat-error");
  var statusEl = document.getElementById("chat-status");
  var seen = {};
  var ws = null;
  var counter = 0;
  var retry = 500;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;  // never innerHTML: user text stays text
    return node;
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function render(m) {
    if (m.id && seen[m.id]) return;
    if (m.attachment_id && !m.filename && m.author === "customer") m.filename = m.text;
    if (m.id) seen[m.id] = true;
    var li = el("li", "msg msg-" + m.direction + " author-" + m.author);
    li.dataset.id = m.id || "";
    if (m.reply_kind === "brand_card" && m.data) {
      var welcome = document.getElementById("chat-welcome");  // the conversation's own card replaces the greeting
      if (welcome) welcome.remove();
      li.classList.add("brand-card");
      li.appendChild(el("strong", "brand", m.data.brand));
      if (m.data.certified) li.appendChild(el("span", "badge certified", "✔ Certified"));
      if (m.data.profile) li.appendChild(el("div", "profile", m.data.profile));
      if (m.data.website) {
        var a = el("a", "website", m.data.website);
        a.href = m.data.website; a.rel = "noopener noreferrer"; a.target = "_blank";
        li.appendChild(a);
      }
    } else if (m.text && !(m.attachment_id && m.text === m.filename)) {
      li.appendChild(el("div", "text", m.text));
    }
    if (m.attachment_id) li.appendChild(fileLink(m));
    if (m.latitude !== null && m.latitude !== undefined) {
      li.appendChild(el("div", "location", "📍 " + m.latitude.toFixed(5) + ", " + m.longitude.toFixed(5)));
    }
    if (m.buttons && m.buttons.length) {
      var row = el("div", "buttons");
      m.buttons.forEach(function (b) {
        var btn = el("button", "chat-button", b[0]);
        btn.type = "button";
        btn.addEventListener("click", function () {
          if (send({ type: "button", label: b[0], payload: b[1] })) followLanguageChoice(b[1]);
        });
        row.appendChild(btn);
      });
      li.appendChild(row);
    }
    decorate(li, m);
    appendKeepingPosition(li);
  }

  function edited(m) {
    var li = log.querySelector('[data-id="' + m.id + '"]');
    if (!li) return;
    var text = li.querySelector(".text");
    if (text) text.textContent = m.text;
    if (!li.querySelector(".edited")) li.appendChild(el("div", "edited", t("edited")));
  }

  // Each frame keeps its client_id until the server acknowledges it; after a reconnect the unacknowledged
  // ones are sent again, and the server stores a client_id once, so nothing is lost or doubled.
  var tabId = Math.random().toString(36).slice(2, 10) + Date.now().toString(36);
  var unacked = [];

  function send(frame) {
    frame.client_id = tabId + "-" + (++counter);
    unacked.push(frame);
    if (!ws || ws.readyState !== 1) { showError(t("Not connected — your message will be sent when the connection is back.")); return true; }
    ws.send(JSON.stringify(frame));
    return true;
  }

  function acknowledged(clientId) {
    unacked = unacked.filter(function (f) { return f.client_id !== clientId; });
  }

  function connect() {
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    // The chat's language now (the customer may have switched it): errors come back in it.
    ws = new WebSocket(proto + location.host + "/chat/ws?org=" + encodeURIComponent(org) +
      "&lang=" + encodeURIComponent(document.documentElement.lang || "en"));
    ws.onopen = function () {
      setStatus("online"); retry = 500; showError("");
      unacked.forEach(function (f) { ws.send(JSON.stringify(f)); });
    };
    ws.onclose = function () {
      setStatus("reconnecting…");
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
    ws.onmessage = function (ev) {
      var data = JSON.parse(ev.data);
      if (data.type === "hello") { data.history.forEach(render); }
      else if (data.type === "history") { log.textContent = ""; seen = {}; data.history.forEach(render); }
      else if (data.type === "message") { render(data.message); afterMessage(data); }
      else if (data.type === "ack") { acknowledged(data.client_id); render(data.message); afterMessage(data); }
      else if (data.type === "message_edited") { edited(data.message); }
      else if (data.type === "typing" || data.type === "read" || data.type === "status") { presence(data); }
      else if (data.type === "error") { acknowledged(data.client_id); showError(data.message); }
    };
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    if (send(withPrechat({ type: "text", text: text }))) { input.value = ""; showError(""); }
  });

  fileInput.addEventListener("change", function () {
    var file = fileInput.files[0];
    if (!file) return;
    if (file.size > Number(body.dataset.maxUpload)) { showError(t("That file is too large.")); fileInput.value = ""; return; }
    var data = new FormData();
    data.append("file", file);
    fetch("/chat/upload?org=" + encodeURIComponent(org), { method: "POST", body: data, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
      .then(function (res) {
        if (!res.ok) showError(res.body.message || t("Upload failed.")); else { showError(""); render(res.body.message); }
      })
      .catch(function () { showError(t("Upload failed; please try again.")); });
    fileInput.value = "";
  });

  document.getElementById("chat-location").addEventListener("click", function () {
    if (!navigator.geolocation) { showError(t("Location is not available in this browser.")); return; }
    navigator.geolocation.getCurrentPosition(function (pos) {
      send({ type: "location", latitude: pos.coords.latitude, longitude: pos.coords.longitude });
    }, function () { showError(t("Location permission was refused.")); });
  });

  // ---- Presentation: language, times, files, scrolling (kept apart from the socket and send logic) ----
  var strings = JSON.parse(document.getElementById("chat-strings").textContent);
  var locale = body.dataset.locale || "en";

  function t(key) { return (strings[locale] && strings[locale][key]) || key; }

  function setStatus(key) { statusEl.dataset.i18n = key; statusEl.textContent = t(key); }

  function applyLocale(next) {
    if (!strings[next]) return;
    locale = next;
    document.documentElement.lang = next;
    document.querySelectorAll("[data-i18n]").forEach(function (n) { n.textContent = t(n.dataset.i18n); });
    document.querySelectorAll("[data-i18n-placeholder]").forEach(function (n) { n.placeholder = t(n.dataset.i18nPlaceholder); });
    document.querySelectorAll("[data-i18n-label]").forEach(function (n) { n.setAttribute("aria-label", t(n.dataset.i18nLabel)); });
    document.querySelectorAll("[data-i18n-title]").forEach(function (n) { n.title = t(n.dataset.i18nTitle); });
    if (window.incsTimes) window.incsTimes.refresh(next);
  }

  function followLanguageChoice(payload) {
    if (payload && payload.indexOf("lang:") === 0) applyLocale(payload.slice(5));
  }

  function fileLink(m) {
    var name = m.filename || (m.kind === "photo" ? t("photo") : t("file"));
    var link = el("a", "file", "📎 " + name);
    link.href = "/chat/files/" + m.attachment_id + "?org=" + encodeURIComponent(org);
    link.target = "_blank"; link.rel = "noopener";
    return link;
  }

  function decorate(li, m) {
    var meta = el("div", "meta");
    var agentName = m.agent_name || (m.data && m.data.agent_name);
    if (m.author === "agent" && agentName) {
      var initials = agentName.split(/\s+/).filter(Boolean).slice(0, 2).map(function (w) { return w.charAt(0).toUpperCase(); }).join("");
      var avatar = el("span", "avatar", initials);
      avatar.setAttribute("aria-hidden", "true");
      meta.appendChild(avatar);
      meta.appendChild(el("span", "agent-name", agentName + " · "));
    }
    if (m.created_at && window.incsTimes) meta.appendChild(window.incsTimes.tag(m.created_at));
    if (meta.childNodes.length) li.insertBefore(meta, li.firstChild);
  }

  function nearBottom() { return log.scrollHeight - log.scrollTop - log.clientHeight < 60; }

  function appendKeepingPosition(li) {
    // Follow new messages only when the reader is at the newest ones; reading older ones, keep the place.
    var follow = nearBottom();
    log.appendChild(li);
    if (follow) log.scrollTop = log.scrollHeight;
  }


  // ---- Widget (embedded on another site): pre-chat form, unread count for the launcher, presence lines ----
  var embedded = body.dataset.embedded === "1";
  var unread = 0;
  var panelOpen = !embedded;
  var prechatSent = false;

  function withPrechat(frame) {
    var name = document.getElementById("prechat-name");
    if (name && name.value.trim()) frame.name = name.value.trim();
    return frame;
  }

  function sendPrechat() {
    var box = document.getElementById("prechat");
    if (!box || prechatSent) return;
    prechatSent = true;
    var name = document.getElementById("prechat-name"), email = document.getElementById("prechat-email");
    var form = { name: name ? name.value : "", email: email ? email.value : "" };
    box.hidden = true;
    if (!form.name.trim() && !form.email.trim()) return;
    fetch("/chat/prechat?org=" + encodeURIComponent(org), { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(form) })
      .then(function (r) { if (!r.ok) return r.json().then(function (j) { showError(j.message || t("Upload failed.")); }); });
  }

  function afterMessage(data) {
    if (data.type === "ack") { sendPrechat(); lastTyping = 0; return; }
    var m = data.message || {};
    if (m.direction === "out") {
      typingLine(false);
      if (!panelOpen || document.hidden) { unread += 1; tellParent(); }
    }
  }

  function tellParent() {
    if (embedded && window.parent !== window) window.parent.postMessage({ type: "incs:unread", count: unread }, "*");
  }

  var typingTimer = null;
  function typingLine(on) {
    var line = document.getElementById("chat-typing");
    line.hidden = !on;
    clearTimeout(typingTimer);
    if (on) typingTimer = setTimeout(function () { line.hidden = true; }, 6000);
  }

  function presence(data) {
    if (data.type === "typing") typingLine(true);
    else if (data.type === "read") {
      log.querySelectorAll(".seen").forEach(function (n) { n.remove(); });
      var mine = log.querySelectorAll(".msg-in");
      if (mine.length) mine[mine.length - 1].appendChild(el("div", "seen", t("Seen")));
    } else if (data.type === "status" && data.status === "resolved") {
      appendKeepingPosition(el("li", "system-line", t("Conversation resolved")));
    }
  }

  var lastTyping = 0;
  input.addEventListener("input", function () {
    if (Date.now() - lastTyping < 3000 || !input.value || !ws || ws.readyState !== 1) return;
    lastTyping = Date.now();
    ws.send(JSON.stringify({ type: "typing" }));
  });

  window.addEventListener("message", function (ev) {
    if (!embedded || ev.source !== window.parent || !ev.data) return;
    if (ev.data.type === "incs:open") { panelOpen = true; unread = 0; tellParent(); input.focus(); }
    else if (ev.data.type === "incs:close") panelOpen = false;
  });

  setStatus("connecting…");
  connect();
})();
