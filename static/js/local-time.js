// Audit times in the reader's own time zone: <time datetime="ISO" data-local-time>.
(function () {
  var format = new Intl.DateTimeFormat(undefined, {
    day: "numeric", month: "short", year: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short",
  });
  function localise(root) {
    root.querySelectorAll("time[data-local-time]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) {
        el.title = el.textContent;
        el.textContent = format.format(when);
      }
    });
  }
  localise(document);
  document.body.addEventListener("htmx:afterSwap", function (event) { localise(event.target); });
})();
