// Readable times: every <time datetime="…Z"> shows relative ("3 min ago") in the page's language, with the
// exact time in the viewer's own timezone on hover. Shared by the web chat and the workbench.
(function () {
  "use strict";
  var lang = document.documentElement.lang || "en";
  var UNITS = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400], ["hour", 3600], ["minute", 60]];

  function relative(date) {
    var seconds = Math.round((date.getTime() - Date.now()) / 1000);
    var format = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
    for (var i = 0; i < UNITS.length; i++) {
      if (Math.abs(seconds) >= UNITS[i][1]) return format.format(Math.round(seconds / UNITS[i][1]), UNITS[i][0]);
    }
    return format.format(0, "second");
  }

  function exact(date) {
    return date.toLocaleString(lang, { dateStyle: "medium", timeStyle: "medium" });
  }

  function localize(node) {
    var date = new Date(node.getAttribute("datetime"));
    if (isNaN(date.getTime())) return;
    node.textContent = relative(date);
    node.title = exact(date);
  }

  function refresh(nextLang) {
    if (nextLang) lang = nextLang;
    document.querySelectorAll("time[datetime]").forEach(localize);
  }

  function tag(iso) {
    var node = document.createElement("time");
    node.setAttribute("datetime", iso);
    localize(node);
    return node;
  }

  window.incsTimes = { refresh: refresh, tag: tag, localize: localize };
  refresh();
  setInterval(refresh, 30000);
})();
