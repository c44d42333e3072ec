// Help requests (the participant's widget, the dashboard's live queue) and the
// instructor's read-only view of a participant's workspace.
import { createEditor } from "./editor.js";
import { $, fmtWait, getJSON, postJSON, textEl } from "./common.js";

export function helpWidget(box, config, notify) {
  const state = $(box, "[data-help-state]");
  const ask = $(box, "[data-help-ask]");
  const withdraw = $(box, "[data-help-withdraw]");
  const note = $(box, "[data-help-note]");
  const reply = $(box, "[data-help-reply]");
  const EVERY_MS = config.helpEveryMs || 5000;
  let timer = null;
  let shown = config.help ? config.help.status + "|" + config.help.reply : "";
  function showReply(request) {
    reply.replaceChildren();
    reply.hidden = !(request && request.reply);
    if (reply.hidden) return;
    reply.append(textEl("p", "Hint from " + (request.replied_by || "your instructor") + " at " + request.replied_at + ":", "small muted"));
    reply.append(textEl("p", request.reply, "hint-text"));
  }
  function show(request) {
    clearTimeout(timer);
    const key = request ? request.status + "|" + request.reply : "";
    const changed = key !== shown;
    shown = key;
    showReply(request);
    if (request && (request.status === "waiting" || request.status === "taken")) {
      state.textContent = request.status === "taken"
        ? "An instructor is on the way (" + request.taken_by + ")."
        : "You asked for help; an instructor will come. You are number " + request.position + " in the queue.";
      ask.hidden = true; note.parentElement.hidden = true; withdraw.hidden = false;
      timer = setTimeout(refresh, EVERY_MS);
      if (changed && request.reply && notify) notify(request.replied_by + " sent you a hint: " + request.reply);
    } else {
      if (request && request.status === "done") {
        state.textContent = (request.taken_by || "Your instructor") + " closed your help request at " + request.closed_at + ". Ask again if you are still stuck.";
        if (changed && notify) notify("Your help request was closed by " + (request.taken_by || "your instructor") + ".");
      } else {
        state.textContent = "";
      }
      ask.hidden = false; note.parentElement.hidden = false; withdraw.hidden = true;
    }
  }
  async function refresh() {
    const r = await getJSON(config.urls.help).catch(() => null);
    if (r && r.ok) show(r.data.request); else timer = setTimeout(refresh, EVERY_MS);
  }
  ask.addEventListener("click", async () => {
    const r = await postJSON(config.urls.help, { note: note.value });
    if (r.ok) { note.value = ""; show(r.data.request); } else state.textContent = r.data.detail || "Could not ask for help; try again.";
  });
  withdraw.addEventListener("click", async () => {
    const r = await postJSON(config.urls.helpWithdraw, {});
    if (r.ok) { show(null); state.textContent = "You withdrew your request."; ask.focus(); }
  });
  // A hint or a close already there when the page opened is shown, not announced.
  show(config.help);
}

// Take, Done and a hint from the read-only workspace; the page reloads to
// show the request as it now stands.
function helpCard(card) {
  const error = $(card, "[data-help-error]");
  async function send(url, body) {
    const r = await postJSON(url, body).catch(() => null);
    if (r && r.ok) { window.location.reload(); return; }
    error.textContent = (r && r.data && r.data.detail) || "That did not work; try again.";
  }
  card.querySelectorAll("[data-help-act]").forEach((btn) => {
    btn.addEventListener("click", () => send(btn.dataset.helpAct, {}));
  });
  const form = card.querySelector("[data-help-reply]");
  if (form) form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(form.dataset.helpReply, { text: $(form, "textarea").value });
  });
}

// ---------------------------------------------------------------- instructor
export function instructorWorkspace(root, config) {
  const editor = createEditor($(root, "[data-editor]"), {
    doc: config.state.text, readOnly: true, label: "Draft of " + config.participant + " (read only)",
  });
  root.editor = editor;
  const card = document.querySelector("[data-help-card]");
  if (card) helpCard(card);
  document.querySelectorAll("[data-view-version]").forEach((btn) => {
    btn.addEventListener("click", async () => {
      const r = await getJSON(btn.dataset.viewVersion);
      if (r.ok) {
        editor.setText(r.data.text);
        $(root, "[data-showing]").textContent = "Showing version " + r.data.number + ".";
      }
    });
  });
  const wanted = /^#version-(\d+)$/.exec(window.location.hash);
  if (wanted) {
    const btn = document.querySelector('[data-view-version$="/versions/' + wanted[1] + '/"]');
    if (btn) btn.click();
  }
  const current = document.querySelector("[data-show-current]");
  if (current) current.addEventListener("click", () => {
    editor.setText(config.state.text);
    $(root, "[data-showing]").textContent = "Showing the current draft.";
  });
}

export function helpQueue(root, config) {
  const list = $(root, "[data-help-list]");
  const count = $(root, "[data-help-count]");
  async function act(url) {
    const r = await postJSON(url, {});
    if (!r.ok) window.alert(r.data.detail || "That did not work.");
    refresh();
  }
  function render(requests) {
    count.textContent = requests.length ? requests.length + " waiting or taken" : "No one is waiting.";
    list.replaceChildren();
    for (const q of requests) {
      const li = document.createElement("li");
      li.className = "help-item " + q.status;
      const head = document.createElement("p");
      head.append(textEl("strong", q.participant), " · " + q.assignment + " · waiting " + fmtWait(q.waiting_seconds));
      if (q.taken_by) head.append(textEl("span", " · taken by " + q.taken_by, "taken"));
      li.append(head);
      if (q.note) li.append(textEl("p", "“" + q.note + "”", "note"));
      if (q.last_error) li.append(textEl("p", "Last error: " + q.last_error, "small error-text"));
      const actions = document.createElement("p");
      const open = textEl("a", "Open workspace", "btn small");
      open.href = q.workspace_url;
      actions.append(open, " ");
      if (q.status === "waiting") {
        const take = textEl("button", "Take", "btn small primary");
        take.type = "button";
        take.setAttribute("aria-label", "Take the request of " + q.participant);
        take.addEventListener("click", () => act(q.take_url));
        actions.append(take, " ");
      }
      const done = textEl("button", "Done", "btn small");
      done.type = "button";
      done.setAttribute("aria-label", "Mark the request of " + q.participant + " done");
      done.addEventListener("click", () => act(q.done_url));
      actions.append(done);
      li.append(actions);
      list.append(li);
    }
  }
  async function refresh() {
    const r = await getJSON(config.queueUrl).catch(() => null);
    if (r && r.ok) render(r.data.requests);
  }
  refresh();
  setInterval(refresh, config.everyMs || 3000);
}

