// Dojo: the little JavaScript the site needs (no framework, no CDN).
(function () {
  "use strict";

  // A table that may scroll sideways (on a phone most do) can be reached and
  // scrolled with the keyboard: give every table wrapper a tab stop.
  document.querySelectorAll(".table-wrap").forEach(function (wrap) {
    if (!wrap.hasAttribute("tabindex")) wrap.tabIndex = 0;
  });

  // Drag and drop onto the upload form's drop zone.
  document.querySelectorAll("[data-dropzone]").forEach(function (zone) {
    var input = zone.querySelector("input[type=file]");
    var name = zone.querySelector("[data-filename]");
    function show() { if (name) name.textContent = input.files.length ? input.files[0].name : ""; }
    input.addEventListener("change", show);
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function () { zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) {
      e.preventDefault();
      if (e.dataTransfer && e.dataTransfer.files.length) { input.files = e.dataTransfer.files; show(); }
    });
  });

  // Poll a JSON endpoint every ~2 s while the page is visible; stop when told.
  // `url` may be a function, so each request can say what the page already has.
  function poll(url, onData) {
    var stopped = false;
    function tick() {
      if (stopped) return;
      if (document.hidden) { setTimeout(tick, 2000); return; }
      var target = typeof url === "function" ? url() : url;
      fetch(target, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (data) { if (onData(data) === false) stopped = true; })
        .catch(function () { /* a missed poll is retried */ })
        .finally(function () { if (!stopped) setTimeout(tick, 2000); });
    }
    setTimeout(tick, 2000);
  }

  // Submission page: live log and timeline while the job is active.
  var live = document.getElementById("live");
  if (live && live.dataset.liveUrl) {
    var log = document.getElementById("log");
    var timeline = document.getElementById("timeline");
    var badge = document.getElementById("status-badge");
    var logRun = live.dataset.logRun || "";
    var logLength = parseInt(live.dataset.logLength || "0", 10);
    function liveUrl() {
      // Ask only for the log's new end: a class of 300 polls this every 2 s.
      return live.dataset.liveUrl + "?run=" + encodeURIComponent(logRun) + "&offset=" + logLength;
    }
    poll(liveUrl, function (data) {
      var atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
      if (data.log_append) {
        if (!logLength) log.textContent = "";
        log.textContent += data.log_append;
      } else if (data.log !== undefined && log.textContent !== data.log) {
        log.textContent = data.log || "No output yet.";
      }
      logRun = data.log_run === null ? "" : String(data.log_run);
      logLength = data.log_length;
      if (atBottom) log.scrollTop = log.scrollHeight;
      timeline.innerHTML = data.timeline;
      badge.textContent = data.label;
      badge.className = "badge " + data.status;
      if (!data.active) {
        // Final: reload once to show the feedback or the reason.
        window.location.reload();
        return false;
      }
    });
  }

  // Instructor dashboard: refresh the stats and the matrix, keep the filters.
  var board = document.getElementById("dashboard-live");
  if (board && board.dataset.refreshUrl) {
    setInterval(function () {
      if (document.hidden) return;
      fetch(board.dataset.refreshUrl, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) { if (html) board.innerHTML = html; })
        .catch(function () { /* the next refresh tries again */ });
    }, 15000);
  }

  // Regrade page: progress bar.
  var regrade = document.getElementById("regrade");
  if (regrade && regrade.dataset.progressUrl) {
    var bar = regrade.querySelector(".progress");
    poll(regrade.dataset.progressUrl, function (data) {
      regrade.querySelector(".progress-fill").style.width = data.percent + "%";
      bar.setAttribute("aria-valuenow", data.percent);
      regrade.querySelector("[data-percent]").textContent = data.percent + "%";
      regrade.querySelector("[data-done]").textContent = data.done;
      regrade.querySelector("[data-state]").textContent = data.state;
      if (!data.cancellable) {
        // Nothing is left to cancel: the button would only mislead.
        var cancel = document.querySelector("[data-regrade-cancel]");
        if (cancel) cancel.remove();
      }
      if (data.state !== "running") return false;
    });
  }

  // Ask before destructive buttons.
  document.querySelectorAll("button.danger[name=action]").forEach(function (b) {
    b.addEventListener("click", function (e) {
      if (!window.confirm("Are you sure? " + b.textContent.trim())) e.preventDefault();
    });
  });
})();
