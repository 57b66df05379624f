// The embeddable chat widget: <script src="https://<support host>/static/widget.js" data-org="<slug>" async></script>
// puts a launcher bubble on the page and opens the organization's chat in an iframe served by the support host.
// Only CSSOM styles and DOM nodes are used (no inline markup or eval), so the host page's CSP can stay strict.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__incsWidget) return;
  window.__incsWidget = true;
  var base = new URL(script.src).origin;
  var org = script.getAttribute("data-org") || "";
  var color = /^#[0-9a-fA-F]{6}$/.test(script.getAttribute("data-color") || "") ? script.getAttribute("data-color") : "#2457c5";
  var label = script.getAttribute("data-label") || "Chat with us";

  function ink(hex) {
    var c = [1, 3, 5].map(function (i) {
      var v = parseInt(hex.slice(i, i + 2), 16) / 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    var l = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    return (l + 0.05) / 0.05 > 1.05 / (l + 0.05) ? "#000" : "#fff";
  }

  var root = document.createElement("div");
  root.id = "incs-widget";
  Object.assign(root.style, { position: "fixed", right: "20px", bottom: "20px", zIndex: "2147483000", fontFamily: "system-ui, sans-serif" });

  var frame = document.createElement("iframe");
  frame.title = label;
  frame.src = base + "/chat?embed=1&org=" + encodeURIComponent(org);
  Object.assign(frame.style, { display: "none", width: "min(380px, calc(100vw - 40px))", height: "min(560px, calc(100vh - 110px))",
    border: "0", borderRadius: "12px", boxShadow: "0 8px 30px rgba(0,0,0,.25)", marginBottom: "12px", background: "#fff" });

  var button = document.createElement("button");
  button.type = "button";
  button.id = "incs-launcher";
  button.setAttribute("aria-label", label);
  button.setAttribute("aria-expanded", "false");
  button.textContent = "💬";
  Object.assign(button.style, { display: "block", marginLeft: "auto", width: "56px", height: "56px", borderRadius: "50%", border: "0",
    background: color, color: ink(color), fontSize: "26px", cursor: "pointer", boxShadow: "0 4px 14px rgba(0,0,0,.25)", position: "relative" });

  var badge = document.createElement("span");
  badge.id = "incs-unread";
  badge.hidden = true;
  Object.assign(badge.style, { position: "absolute", top: "-4px", right: "-4px", minWidth: "20px", height: "20px", borderRadius: "10px",
    background: "#b3261e", color: "#fff", font: "bold 12px/20px system-ui, sans-serif", textAlign: "center", padding: "0 5px" });
  button.appendChild(badge);

  var open = false;
  function setOpen(next) {
    open = next;
    frame.style.display = open ? "block" : "none";
    button.setAttribute("aria-expanded", open ? "true" : "false");
    if (frame.contentWindow) frame.contentWindow.postMessage({ type: open ? "incs:open" : "incs:close" }, base);
    if (open) { badge.hidden = true; frame.focus(); }
  }
  button.addEventListener("click", function () { setOpen(!open); });

  window.addEventListener("message", function (ev) {
    if (ev.origin !== base || ev.source !== frame.contentWindow || !ev.data || ev.data.type !== "incs:unread") return;
    var count = Number(ev.data.count) || 0;
    badge.textContent = String(count);
    badge.hidden = open || count === 0;
    button.setAttribute("aria-label", count && !open ? label + " (" + count + ")" : label);
  });

  root.appendChild(frame);
  root.appendChild(button);
  (document.body || document.documentElement).appendChild(root);
})();
