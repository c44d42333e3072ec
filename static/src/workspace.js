// The workspace page: autosaved drafts, history, import/export, check runs,
// submit and help requests; also the instructor's read-only view and the
// dashboard's live help queue. Config comes from a JSON <script> on the page.
import { createEditor } from "./editor.js";
import { $, csrf, getJSON, postJSON, textEl } from "./common.js";
import { askInPage } from "./confirm.js";
import { helpQueue, helpWidget, instructorWorkspace } from "./help.js";
import { pageLayout } from "./layout.js";

const SAVE_DELAY_MS = 2000;
const RETRY_MS = 5000;
const OFFLINE = "Offline: your changes are kept in this browser and will be saved when you are back.";

// ---------------------------------------------------------------- participant
function participantWorkspace(root, config) {
  const status = $(root, "[data-save-status]");
  const notice = $(root, "[data-notice]");
  const storageKey = config.storageKey;
  let revision = config.state.revision;
  let savedText = config.state.text;
  let timer = null;
  let inFlight = null;
  let offline = false;

  function setStatus(text, kind) {
    status.textContent = text;
    status.dataset.kind = kind || "";
  }
  function say(text, kind) {
    notice.textContent = text;
    notice.dataset.kind = kind || "";
    notice.hidden = !text;
  }
  function keepLocal() {
    try {
      localStorage.setItem(storageKey, JSON.stringify({ text: editor.getText(), base: revision, at: Date.now() }));
    } catch (e) { /* storage full or blocked: the server copy still comes */ }
  }
  function dropLocal() {
    try { localStorage.removeItem(storageKey); } catch (e) { /* ignore */ }
  }

  const editor = createEditor($(root, "[data-editor]"), {
    doc: config.state.text,
    label: "Your code for " + config.title + " (Escape then Tab leaves the editor)",
    onChange() {
      keepLocal();
      if (!offline) setStatus("Saving…", "pending");
      clearTimeout(timer);
      timer = setTimeout(() => save("edit"), SAVE_DELAY_MS);
    },
    keys: [
      { key: "Mod-Enter", run: () => { check(); return true; } },
      { key: "Mod-Shift-Enter", run: () => { submit(); return true; } },
    ],
  });
  root.editor = editor;

  async function save(reason = "edit") {
    clearTimeout(timer);
    if (inFlight) { await inFlight; }
    const text = editor.getText();
    if (text === savedText && reason === "edit") {
      if (!offline) setStatus("Saved", "saved");
      dropLocal();
      return true;
    }
    setStatus("Saving…", "pending");
    const attempt = (async () => {
      let result;
      try {
        result = await postJSON(config.urls.draft, { text, base: revision, reason });
      } catch (e) {
        result = null;
      }
      if (!result || result.status >= 500 || result.status === 0) {
        offline = true;
        setStatus(OFFLINE, "offline");
        keepLocal();
        clearTimeout(timer);
        timer = setTimeout(() => save(reason), RETRY_MS);
        return false;
      }
      offline = false;
      if (result.status === 429) {
        // Too many saves this minute: the text stays here and goes when allowed.
        setStatus("Not saved yet: " + (result.data.detail || "too many saves."), "pending");
        keepLocal();
        clearTimeout(timer);
        timer = setTimeout(() => save(reason), 1000 * (result.data.retry_after || RETRY_MS / 1000));
        return false;
      }
      if (!result.ok) {
        setStatus("Not saved: " + (result.data.detail || "the server refused this save."), "error");
        keepLocal();
        return false;
      }
      revision = result.data.revision;
      savedText = text;
      if (result.data.conflict) say(result.data.conflict, "warn");
      if (editor.getText() === text) {
        setStatus("Saved", "saved");
        dropLocal();
      } else {
        keepLocal();
        timer = setTimeout(() => save("edit"), SAVE_DELAY_MS);
      }
      if (historyOpen()) loadHistory();
      return true;
    })();
    inFlight = attempt;
    try { return await attempt; } finally { if (inFlight === attempt) inFlight = null; }
  }
  root.save = save;

  window.addEventListener("online", () => { if (offline) save("edit"); });
  window.addEventListener("offline", () => { offline = true; setStatus(OFFLINE, "offline"); });
  function leave() {
    const text = editor.getText();
    if (text === savedText) return;
    keepLocal();
    try {
      fetch(config.urls.draft, {
        method: "POST", keepalive: true, credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify({ text, base: revision, reason: "leave" }),
      });
    } catch (e) { /* the local copy is sent on the next visit */ }
  }
  window.addEventListener("pagehide", leave);
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "hidden") leave(); });

  // A copy left in this browser (offline, closed mid-save) is sent now; a stale
  // base makes the server keep both texts.
  try {
    const local = JSON.parse(localStorage.getItem(storageKey) || "null");
    if (local && typeof local.text === "string" && local.text !== config.state.text) {
      revision = typeof local.base === "number" ? local.base : revision;
      editor.setText(local.text);
      say("Changes kept in this browser since your last visit were restored.", "info");
      save("edit");
    } else {
      dropLocal();
      setStatus(config.state.revision ? "Saved" : "Starter loaded", "saved");
    }
  } catch (e) { setStatus("Saved", "saved"); }

  // ---- history
  const historyBox = $(root, "[data-history]");
  const historyList = $(root, "[data-history-list]");
  const preview = $(root, "[data-preview]");
  function historyOpen() { return historyBox && historyBox.open; }
  async function loadHistory() {
    const result = await getJSON(config.urls.versions);
    if (!result.ok) return;
    historyList.replaceChildren();
    for (const v of result.data.versions) {
      const li = document.createElement("li");
      // The server words the label and the time (24-hour, the site's clock).
      li.append(textEl("span", "v" + v.number + " · " + v.time + " · ", "v-label"));
      if (v.submission_id) {
        const a = textEl("a", v.label);
        a.href = config.urls.submission.replace("0", String(v.submission_id));
        li.append(a);
      } else {
        li.append(textEl("span", v.label));
      }
      const view = textEl("button", "View", "btn small");
      view.type = "button";
      view.setAttribute("aria-label", "View version " + v.number);
      view.addEventListener("click", async () => {
        const got = await getJSON(config.urls.version.replace("/0/", "/" + v.number + "/"));
        if (got.ok) {
          preview.hidden = false;
          $(preview, "h3").textContent = "Version " + v.number + " (read only)";
          $(preview, "pre").textContent = got.data.text;
        }
      });
      const restore = textEl("button", "Restore", "btn small");
      restore.type = "button";
      restore.setAttribute("aria-label", "Restore version " + v.number);
      restore.addEventListener("click", async () => {
        await save("edit");
        const url = config.urls.restore.replace("/0/", "/" + v.number + "/");
        const r = await postJSON(url, { base: revision });
        applyServerText(r, "Restored version " + v.number + " as a new version.");
      });
      li.append(" ", view, " ", restore);
      historyList.append(li);
    }
  }
  if (historyBox) historyBox.addEventListener("toggle", () => { if (historyBox.open) loadHistory(); });
  const wanted = /^#version-(\d+)$/.exec(window.location.hash);
  if (wanted && historyBox) {
    historyBox.open = true;
    getJSON(config.urls.version.replace("/0/", "/" + wanted[1] + "/")).then((got) => {
      if (!got.ok) return;
      preview.hidden = false;
      $(preview, "h3").textContent = "Version " + wanted[1] + " (read only)";
      $(preview, "pre").textContent = got.data.text;
      historyBox.scrollIntoView();
    });
  }

  function applyServerText(r, message) {
    if (!r.ok) { say(r.data.detail || "That did not work; nothing was lost.", "error"); return; }
    revision = r.data.revision;
    savedText = r.data.text;
    editor.setText(r.data.text);
    clearTimeout(timer);
    dropLocal();
    setStatus("Saved", "saved");
    say(r.data.conflict || message, r.data.conflict ? "warn" : "info");
    if (historyOpen()) loadHistory();
  }

  const confirmBox = $(root, "[data-confirm]");
  const reset = $(root, "[data-reset]");
  if (reset) reset.addEventListener("click", async () => {
    const sure = await askInPage(confirmBox, {
      title: "Put the starter back?",
      text: "The editor gets the starter code again. Your current text stays in the history.",
      yes: "Reset to starter",
    });
    if (!sure) return;
    await save("edit");
    applyServerText(await postJSON(config.urls.reset, { base: revision }), "The starter is back; your previous text is in the history.");
  });

  // ---- import / export
  const fileInput = $(root, "[data-import]");
  if (fileInput) fileInput.addEventListener("change", async () => {
    const file = fileInput.files[0];
    if (!file) return;
    if (file.size > config.maxBytes * 4) {
      say("That file is too large to open (" + Math.round(file.size / 1024) + " KB).", "error");
      return;
    }
    const content = await file.text();
    await save("edit");
    const r = await postJSON(config.urls.import, { name: file.name, content, base: revision });
    applyServerText(r, "Opened " + file.name + "; your previous text is in the history.");
    fileInput.value = "";
  });
  root.querySelectorAll("[data-export]").forEach((link) => {
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      await save("edit");
      window.location.href = link.href;
    });
  });

  // ---- check run
  const checkBtn = $(root, "[data-check]");
  const checkStatus = $(root, "[data-check-status]");
  const checkLog = $(root, "[data-check-log]");
  const checkResult = $(root, "[data-check-result]");
  let polling = null;
  async function check() {
    if (!config.urls.check) return;
    await save("check");
    checkStatus.textContent = "Starting a check run…";
    checkLog.textContent = "";
    checkResult.replaceChildren();
    let r;
    try { r = await postJSON(config.urls.check, { source: editor.getText() }); } catch (e) { r = null; }
    if (!r) { checkStatus.textContent = "The check run could not start: no connection. Try again when you are back online."; return; }
    if (r.status === 404) { checkStatus.textContent = "Check runs are not available on this site yet."; return; }
    if (!r.ok) { checkStatus.textContent = "Check run refused: " + (r.data.detail || "try again in a minute."); return; }
    pollCheck(r.data.status_url);
  }
  root.check = check;
  function pollCheck(url) {
    clearTimeout(polling);
    const step = async () => {
      let r;
      try { r = await getJSON(url); } catch (e) { r = null; }
      if (r && r.ok) {
        const run = r.data;
        checkLog.textContent = run.log || "";
        checkLog.scrollTop = checkLog.scrollHeight;
        if (run.finished || ["passed", "failed", "error", "cancelled"].includes(run.status)) {
          checkStatus.textContent = "Check run " + run.status + ".";
          showResult(run);
          return;
        }
        checkStatus.textContent = run.status === "running" ? "Check run: running…"
          : run.status === "evaluating" ? "Check run: checking the model…" : "Check run: queued…";
      }
      polling = setTimeout(step, 1000);
    };
    step();
  }
  function showResult(run) {
    const result = run.result || {};
    checkResult.replaceChildren();
    checkResult.append(textEl("h3", "Result (indicative only)"));
    const trained = result.training_slice ? "on " + result.training_slice : "briefly";
    checkResult.append(textEl("p", "A check trains " + trained + " and measures a public sample; your grade comes from a submission.", "muted small"));
    if (run.reason && run.status !== "passed") checkResult.append(textEl("p", run.reason, "error-text"));
    if (Array.isArray(result.checks) && result.checks.length) {
      const ul = document.createElement("ul");
      ul.className = "checks";
      for (const c of result.checks) {
        const ok = c.passed === true;
        ul.append(textEl("li", (ok ? "✓ " : "✗ ") + (c.message || ""), ok ? "pass" : "fail"));
      }
      checkResult.append(ul);
    }
    if (result.indicative_accuracy !== undefined && result.indicative_accuracy !== null) {
      checkResult.append(textEl("p", "Indicative accuracy on a small public sample: " + (100 * result.indicative_accuracy).toFixed(1) + "% (indicative only, not your grade)", "indicative"));
    }
    const notes = Array.isArray(result.feedback) ? result.feedback : result.feedback ? [result.feedback] : [];
    if (notes.length) {
      const ul = document.createElement("ul");
      ul.className = "feedback";
      for (const note of notes) ul.append(textEl("li", String(note)));
      checkResult.append(ul);
    }
  }
  if (checkBtn) checkBtn.addEventListener("click", check);
  // A check still running (or just finished) when the page was opened.
  if (config.lastCheck) pollCheck(config.lastCheck);

  // ---- submit
  const submitBtn = $(root, "[data-submit]");
  async function submit() {
    if (!config.urls.submit) return;
    const left = config.leftToday;
    const sure = await askInPage(confirmBox, {
      title: "Submit this draft for grading?",
      text: "It counts against your daily limit (" + left + " left today).",
      yes: "Submit for grading",
    });
    if (!sure) return;
    await save("edit");
    const r = await postJSON(config.urls.submit, { text: editor.getText(), base: revision });
    if (r.ok) {
      dropLocal();
      say("Submitted as #" + r.data.submission_id + ". Opening its page…", "info");
      window.location.href = r.data.submission_url;
    } else {
      say("Not submitted: " + (r.data.detail || "try again."), "error");
    }
  }
  root.submit = submit;
  if (submitBtn) submitBtn.addEventListener("click", submit);
  // The same shortcuts work when the focus is outside the editor.
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    if (editor.view.hasFocus) return;
    event.preventDefault();
    if (event.shiftKey) submit(); else check();
  });

  // ---- help
  const help = $(root, "[data-help]");
  if (help) helpWidget(help, config, (text) => say(text, "info"));
}

function boot() {
  document.querySelectorAll("[data-workspace]").forEach((root) => {
    const config = JSON.parse(document.getElementById(root.dataset.workspace).textContent);
    if (config.mode === "instructor") instructorWorkspace(root, config);
    else participantWorkspace(root, config);
  });
  document.querySelectorAll("[data-layout]").forEach((root) => {
    pageLayout(root, () => {
      const ws = root.querySelector("[data-workspace]");
      if (ws && ws.editor) ws.editor.view.requestMeasure();
    });
  });
  document.querySelectorAll("[data-help-queue]").forEach((root) => {
    helpQueue(root, JSON.parse(document.getElementById(root.dataset.helpQueue).textContent));
  });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
else boot();
