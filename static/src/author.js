// The assignment author form: the starter and the reference solution get the
// editor participants use. Each textarea stays in the form, hidden, and carries
// the editor's text when the form is sent, so the form works without script.
// Built by bin/build-js into static/js/author.min.js (only instructors load it).
import { createEditor } from "./editor.js";

function enhance(area) {
  const box = document.createElement("div");
  box.className = "editor-box author-editor";
  area.insertAdjacentElement("afterend", box);
  const label = area.labels && area.labels[0] ? area.labels[0].textContent.trim() : "Code";
  const editor = createEditor(box, {
    doc: area.value,
    label,
    onChange: () => { area.value = editor.getText(); },
  });
  area.hidden = true;
  box.dataset.codeEditorFor = area.name;
  for (const each of area.labels || []) {
    each.addEventListener("click", (event) => { event.preventDefault(); editor.focus(); });
  }
  if (area.form) area.form.addEventListener("submit", () => { area.value = editor.getText(); });
}

function boot() {
  document.querySelectorAll("textarea[data-code-editor]").forEach(enhance);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
else boot();
