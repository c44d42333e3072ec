// An in-page confirmation instead of the browser's confirm(): a modal <dialog>
// that moves the focus to its confirm button, cancels on Escape or "Cancel",
// and gives the focus back to what opened it.
import { $ } from "./common.js";

export function askInPage(dialog, { title, text, yes }) {
  if (!dialog || dialog.open) return Promise.resolve(false);
  const yesBtn = $(dialog, "[data-confirm-yes]");
  const noBtn = $(dialog, "[data-confirm-no]");
  $(dialog, "[data-confirm-title]").textContent = title;
  $(dialog, "[data-confirm-text]").textContent = text;
  yesBtn.textContent = yes;
  const opener = document.activeElement;
  return new Promise((resolve) => {
    const finish = (answer) => {
      yesBtn.removeEventListener("click", onYes);
      noBtn.removeEventListener("click", onNo);
      dialog.removeEventListener("cancel", onCancel);
      if (dialog.open) dialog.close();
      if (opener && typeof opener.focus === "function") opener.focus();
      resolve(answer);
    };
    const onYes = () => finish(true);
    const onNo = () => finish(false);
    // Escape fires "cancel" on a modal dialog.
    const onCancel = (event) => { event.preventDefault(); finish(false); };
    yesBtn.addEventListener("click", onYes);
    noBtn.addEventListener("click", onNo);
    dialog.addEventListener("cancel", onCancel);
    dialog.showModal();
    yesBtn.focus();
  });
}
