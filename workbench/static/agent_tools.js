// Conversation page tools: `/` canned replies in the reply box; sidebar forms with errors shown inline (the
// snooze time is sent with the agent's timezone offset).
(function () {
  "use strict";
  var box = document.getElementById("reply-text");
  var menu = document.getElementById("canned-menu");
  var data = document.getElementById("canned-replies");
  if (!box || !menu || !data) return;
  var canned = JSON.parse(data.textContent);
  var active = 0;
  var matches = [];

  function slashWord() {
    // The "/word" just before the caret, at the start of the box or after whitespace.
    var before = box.value.slice(0, box.selectionStart);
    var m = before.match(/(^|\s)\/([\w-]*)$/);
    return m ? { start: before.length - m[2].length - 1, word: m[2].toLowerCase() } : null;
  }

  function close() { menu.hidden = true; menu.textContent = ""; matches = []; box.removeAttribute("aria-activedescendant"); }

  function show() {
    var slash = slashWord();
    if (!slash) { close(); return; }
    matches = canned.filter(function (c) { return c.shortcut.indexOf(slash.word) === 0; });
    if (!matches.length) { close(); return; }
    active = Math.min(active, matches.length - 1);
    menu.textContent = "";
    matches.forEach(function (c, i) {
      var li = document.createElement("li");
      li.id = "canned-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", i === active ? "true" : "false");
      li.className = i === active ? "active" : "";
      var key = document.createElement("strong");
      key.textContent = "/" + c.shortcut + " ";
      li.appendChild(key);
      li.appendChild(document.createTextNode(c.text.length > 80 ? c.text.slice(0, 79) + "…" : c.text));
      li.addEventListener("mousedown", function (ev) { ev.preventDefault(); insert(c); });
      menu.appendChild(li);
    });
    menu.hidden = false;
    box.setAttribute("aria-activedescendant", "canned-" + active);
  }

  function insert(c) {
    var slash = slashWord();
    if (!slash) return;
    var end = box.selectionStart;
    box.value = box.value.slice(0, slash.start) + c.text + box.value.slice(end);
    var caret = slash.start + c.text.length;
    box.setSelectionRange(caret, caret);
    close();
    box.dispatchEvent(new Event("input"));
  }

  box.addEventListener("input", function () { active = 0; show(); });
  box.addEventListener("keydown", function (ev) {
    if (menu.hidden) return;
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      ev.preventDefault();
      active = (active + (ev.key === "ArrowDown" ? 1 : matches.length - 1)) % matches.length;
      show();
    } else if (ev.key === "Enter" || ev.key === "Tab") {
      if (ev.ctrlKey || ev.metaKey) return;
      ev.preventDefault();
      insert(matches[active]);
    } else if (ev.key === "Escape") {
      ev.preventDefault();
      close();
    }
  });
  box.addEventListener("blur", close);

  // Sidebar forms: sent in the background; a refusal is shown next to the form, success reloads the page.
  document.querySelectorAll("form[data-inline]").forEach(function (form) {
    var error = document.createElement("p");
    error.className = "field-error";
    error.setAttribute("role", "alert");
    error.hidden = true;
    form.appendChild(error);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (form.id === "snooze-form") form.elements.tz_offset.value = String(new Date(form.elements.until.value).getTimezoneOffset());
      fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: { "Accept": "application/json", "X-CSRF-Token": document.body.dataset.csrf } })
        .then(function (r) {
          if (r.ok) { location.replace(location.href); return; }  // a fresh load: no restored form values
          return r.json().then(function (j) { error.textContent = j.message || "—"; error.hidden = false; });
        })
        .catch(function () { error.textContent = "—"; error.hidden = false; });
    });
  });

})();
