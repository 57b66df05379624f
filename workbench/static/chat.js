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
    if (m.id) seen[m.id] = true;
    var li = el("li", "msg msg-" + m.direction + " author-" + m.author);
    li.dataset.id = m.id || "";
    if (m.reply_kind === "brand_card" && m.data) {
      li.classList.add("brand-card");
      li.appendChild(el("strong", "brand", m.data.brand));
      if (m.data.certified) li.appendChild(el("span", "badge certified", "✔ Certified"));
      if (m.data.profile) li.appendChild(el("div", "profile", m.data.profile));
      if (m.data.website) {
        var a = el("a", "website", m.data.website);
        a.href = m.data.website; a.rel = "noopener noreferrer"; a.target = "_blank";
        li.appendChild(a);
      }
    } else if (m.text) {
      li.appendChild(el("div", "text", m.text));
    }
    if (m.attachment_id) {
      var link = el("a", "file", "📎 " + (m.kind === "photo" ? "photo" : "file"));
      link.href = "/chat/files/" + m.attachment_id + "?org=" + encodeURIComponent(org);
      li.appendChild(link);
    }
    if (m.latitude !== null && m.latitude !== undefined) {
      li.appendChild(el("div", "location", "📍 " + m.latitude.toFixed(5) + ", " + m.longitude.toFixed(5)));
    }
    if (m.buttons && m.buttons.length) {
      var row = el("div", "buttons");
      m.buttons.forEach(function (b) {
        var btn = el("button", "chat-button", b[0]);
        btn.type = "button";
        btn.addEventListener("click", function () { send({ type: "button", label: b[0], payload: b[1] }); });
        row.appendChild(btn);
      });
      li.appendChild(row);
    }
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
  }

  function edited(m) {
    var li = log.querySelector('[data-id="' + m.id + '"]');
    if (!li) return;
    var text = li.querySelector(".text");
    if (text) text.textContent = m.text;
    if (!li.querySelector(".edited")) li.appendChild(el("div", "edited", "edited"));
  }

  // Each frame keeps its client_id until the server acknowledges it; after a reconnect the unacknowledged
  // ones are sent again, and the server stores a client_id once, so nothing is lost or doubled.
  var tabId = Math.random().toString(36).slice(2, 10) + Date.now().toString(36);
  var unacked = [];

  function send(frame) {
    frame.client_id = tabId + "-" + (++counter);
    unacked.push(frame);
    if (!ws || ws.readyState !== 1) { showError("Not connected — your message will be sent when the connection is back."); return true; }
    ws.send(JSON.stringify(frame));
    return true;
  }

  function acknowledged(clientId) {
    unacked = unacked.filter(function (f) { return f.client_id !== clientId; });
  }

  function connect() {
    var proto = location.protocol === "https:" ? "wss://" : "ws://";
    ws = new WebSocket(proto + location.host + "/chat/ws?org=" + encodeURIComponent(org));
    ws.onopen = function () {
      statusEl.textContent = "online"; retry = 500; showError("");
      unacked.forEach(function (f) { ws.send(JSON.stringify(f)); });
    };
    ws.onclose = function () {
      statusEl.textContent = "reconnecting…";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    };
    ws.onmessage = function (ev) {
      var data = JSON.parse(ev.data);
      if (data.type === "hello") { data.history.forEach(render); }
      else if (data.type === "history") { log.textContent = ""; seen = {}; data.history.forEach(render); }
      else if (data.type === "message") { render(data.message); }
      else if (data.type === "ack") { acknowledged(data.client_id); render(data.message); }
      else if (data.type === "message_edited") { edited(data.message); }
      else if (data.type === "error") { acknowledged(data.client_id); showError(data.message); }
    };
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    if (send({ type: "text", text: text })) { input.value = ""; showError(""); }
  });

  fileInput.addEventListener("change", function () {
    var file = fileInput.files[0];
    if (!file) return;
    if (file.size > Number(body.dataset.maxUpload)) { showError("That file is too large."); fileInput.value = ""; return; }
    var data = new FormData();
    data.append("file", file);
    fetch("/chat/upload?org=" + encodeURIComponent(org), { method: "POST", body: data, credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
      .then(function (res) {
        if (!res.ok) showError(res.body.message || "Upload failed."); else { showError(""); render(res.body.message); }
      })
      .catch(function () { showError("Upload failed; please try again."); });
    fileInput.value = "";
  });

  document.getElementById("chat-location").addEventListener("click", function () {
    if (!navigator.geolocation) { showError("Location is not available in this browser."); return; }
    navigator.geolocation.getCurrentPosition(function (pos) {
      send({ type: "location", latitude: pos.coords.latitude, longitude: pos.coords.longitude });
    }, function () { showError("Location permission was refused."); });
  });

  connect();
})();
