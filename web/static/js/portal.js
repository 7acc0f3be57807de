// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // Live table: the browser resumes a broken stream with Last-Event-ID by itself, but when
  // the server answered with an error (e.g. 503 while the database restarts) the SSE
  // extension opens a new EventSource, which sends none. Pass the last event id along
  // then, so the server sends what changed meanwhile.
  var lastEventIds = {};
  if (window.htmx) {
    window.htmx.createEventSource = function (url) {
      var last = lastEventIds[url];
      var target = last ? url + (url.indexOf("?") < 0 ? "?" : "&") + "last_event_id=" + encodeURIComponent(last) : url;
      var source = new EventSource(target, { withCredentials: true });
      var remember = function (event) {
        if (event.lastEventId) {
          lastEventIds[url] = event.lastEventId;
          document.documentElement.dataset.liveEventId = event.lastEventId;  // where the table stands
        }
      };
      source.addEventListener("cursor", remember);
      source.addEventListener("row", remember);
      return source;
    };
  }

  // "Nutzer anlegen" arrives as a <dialog>: open it as an accessible modal.
  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = event.target.querySelector && event.target.querySelector("dialog[data-open-modal]");
    if (dialog && !dialog.open) {
      dialog.showModal();
      var first = dialog.querySelector("select, input");
      if (first) { first.focus(); }
      dialog.addEventListener("close", function () { dialog.remove(); });
    }
  });

  // "Abbrechen" closes the dialog instead of following the link.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("[data-close-dialog]");
    var dialog = link && link.closest("dialog");
    if (dialog) {
      event.preventDefault();
      dialog.close();
    }
  });

  // After a successful invitation the server triggers this event: close the dialog.
  document.body.addEventListener("person-invited", function () {
    var dialog = document.querySelector("dialog[open]");
    if (dialog) { dialog.close(); }
    var opener = document.querySelector("[hx-target='#dialog-slot']");
    if (opener) { opener.focus(); }
  });

  // A live update for a person not shown yet: the person was invited elsewhere, or the
  // live feed was faster than the answer to "Nutzer anlegen" that adds the row. Its
  // out-of-band swap would find no target (htmx:oobErrorNoTarget), so the row is placed
  // first: on top of the default view, where the swap then replaces it; in a filtered
  // view or a later page the row is not shown (it appears on reload) and the message is
  // dropped. The answer's own row then replaces this one (htmx:oobBeforeSwap below).
  document.body.addEventListener("htmx:sseBeforeMessage", function (event) {
    if (!event.detail || event.detail.type !== "row") { return; }
    var parsed = document.createElement("template");
    parsed.innerHTML = event.detail.data;
    var inner = parsed.content.querySelector("template");
    var row = inner && inner.content.querySelector("tr[id]");
    if (!row || document.getElementById(row.id)) { return; }
    var body = document.getElementById("people-rows");
    var table = document.getElementById("people-table");
    var defaultView = table && /\?q=&status=&sort=newest&cursor=$/.test(table.getAttribute("data-poll-url"));
    if (!body || !defaultView) {
      event.preventDefault();
      return;
    }
    row.removeAttribute("hx-swap-oob");
    body.insertBefore(document.importNode(row, true), body.firstChild);
    htmx.process(body.firstChild);
  });

  // The new row is added on top (afterbegin:#people-rows). When the live feed was
  // faster and added the same row already, replace it instead of showing it twice.
  document.body.addEventListener("htmx:oobBeforeSwap", function (event) {
    var detail = event.detail;
    if (!detail || !detail.target || detail.target.id !== "people-rows" || !detail.fragment) { return; }
    var rows = detail.fragment.querySelectorAll ? detail.fragment.querySelectorAll("tr[id]") : [];
    for (var i = 0; i < rows.length; i++) {
      var shown = document.getElementById(rows[i].id);
      if (shown && shown.parentNode) { shown.parentNode.removeChild(shown); }
    }
  });

  // Without Server-Sent Events (blocked by a proxy, or unsupported): poll instead.
  var polling = false;
  function startPolling() {
    if (polling) { return; }
    polling = true;
    setInterval(function () {
      var table = document.getElementById("people-table");
      if (!table || document.querySelector("dialog[open]")) { return; }
      htmx.ajax("GET", table.getAttribute("data-poll-url"), { target: "#people-table", swap: "outerHTML" });
    }, 5000);
  }
  document.body.addEventListener("htmx:sseError", function (event) {
    if (document.getElementById("people-table")) { startPolling(); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    var table = document.getElementById("people-table");
    if (table && typeof EventSource === "undefined") { startPolling(); }
  });

  // Session idle warning (WCAG 2.2.1): two minutes before the idle timeout a banner
  // offers one click to extend; any request to the server also extends the session.
  var warning = document.getElementById("session-warning");
  if (warning) {
    var idle = parseInt(warning.getAttribute("data-idle-seconds"), 10);
    var warn = parseInt(warning.getAttribute("data-warn-seconds"), 10);
    var timer = null;
    var arm = function () {
      warning.hidden = true;
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(function () { warning.hidden = false; }, Math.max(idle - warn, 10) * 1000);
    };
    document.body.addEventListener("htmx:afterRequest", arm);
    arm();
  }
})();
