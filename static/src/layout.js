// The assignment page's layout: on a wide screen the instructions sit beside
// the editor and can be collapsed (remembered in this browser); on a narrow one
// two tabs switch between the instructions and the code. Switching only hides
// and shows: the editor, its autosave and its local copy are never touched.
const NARROW = "(max-width: 820px)";
const COLLAPSED_KEY = "dojo-instructions-collapsed";

function remembered() {
  try { return localStorage.getItem(COLLAPSED_KEY) === "1"; } catch (e) { return false; }
}
function remember(collapsed) {
  try { localStorage.setItem(COLLAPSED_KEY, collapsed ? "1" : "0"); } catch (e) { /* ignore */ }
}

export function pageLayout(root, onShowEditor) {
  const tablist = root.querySelector("[data-tabs]");
  const tabs = [...root.querySelectorAll("[data-tab]")];
  const collapse = root.querySelector("[data-collapse]");
  const panes = tabs.map((tab) => document.getElementById(tab.dataset.tab));
  if (!tablist || panes.some((p) => !p)) return;
  const labels = panes.map((pane) => pane.getAttribute("aria-labelledby"));
  const narrow = window.matchMedia(NARROW);
  let selected = "workspace";

  function select(name, focus) {
    selected = name;
    tabs.forEach((tab, i) => {
      const on = tab.dataset.tab === name;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      panes[i].hidden = !on;
      if (on && focus) tab.focus();
    });
    if (name === "workspace" && onShowEditor) onShowEditor();
  }

  function setCollapsed(collapsed) {
    root.classList.toggle("collapsed", collapsed);
    collapse.setAttribute("aria-expanded", collapsed ? "false" : "true");
    collapse.textContent = collapsed ? "Show instructions" : "Hide instructions";
    if (onShowEditor) onShowEditor();
  }

  function apply() {
    if (narrow.matches) {
      root.classList.add("tabbed");
      root.classList.remove("collapsed");
      tablist.hidden = false;
      collapse.hidden = true;
      tabs.forEach((tab, i) => {
        panes[i].setAttribute("role", "tabpanel");
        panes[i].setAttribute("aria-labelledby", tab.id);
      });
      select(selected, false);
    } else {
      root.classList.remove("tabbed");
      tablist.hidden = true;
      collapse.hidden = false;
      panes.forEach((pane, i) => {
        pane.hidden = false;
        pane.removeAttribute("role");
        if (labels[i]) pane.setAttribute("aria-labelledby", labels[i]);
        else pane.removeAttribute("aria-labelledby");
      });
      setCollapsed(remembered());
    }
  }

  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => select(tab.dataset.tab, false));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      event.preventDefault();
      select(tabs[(i + step + tabs.length) % tabs.length].dataset.tab, true);
    });
  });
  collapse.addEventListener("click", () => {
    const collapsed = !root.classList.contains("collapsed");
    remember(collapsed);
    setCollapsed(collapsed);
  });
  narrow.addEventListener("change", apply);
  apply();
}
