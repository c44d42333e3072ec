// The workspace editor: CodeMirror 6 with Python, lint for syntax errors, and
// percent-format cells (`# %%` code cells, `# %% [markdown]` text cells) shown
// with a gutter marker and a styled text cell. Built by bin/build-js.
import {
  autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap,
} from "@codemirror/autocomplete";
import {
  defaultKeymap, history, historyKeymap, indentWithTab,
} from "@codemirror/commands";
import { python } from "@codemirror/lang-python";
import {
  bracketMatching, foldGutter, foldKeymap, HighlightStyle, indentOnInput,
  indentUnit, syntaxHighlighting, syntaxTree,
} from "@codemirror/language";
import { linter, lintGutter, lintKeymap } from "@codemirror/lint";
import { highlightSelectionMatches, searchKeymap } from "@codemirror/search";
import { EditorState, Prec, RangeSetBuilder, StateField } from "@codemirror/state";
import {
  crosshairCursor, Decoration, drawSelection, dropCursor, EditorView, gutter,
  GutterMarker, highlightActiveLine, highlightActiveLineGutter,
  highlightSpecialChars, keymap, lineNumbers, rectangularSelection,
} from "@codemirror/view";
import { tags } from "@lezer/highlight";

// Colours chosen for at least 4.5:1 contrast on the editor's white and the
// text cells' pale background (axe-core checks them).
const highlight = HighlightStyle.define([
  { tag: tags.keyword, color: "#7a1f8c" },
  { tag: [tags.string, tags.special(tags.string)], color: "#a31515" },
  { tag: tags.comment, color: "#5c5c5c", fontStyle: "italic" },
  { tag: [tags.number, tags.bool, tags.null], color: "#116644" },
  { tag: [tags.definition(tags.variableName), tags.function(tags.definition(tags.variableName))], color: "#0b4f9c" },
  { tag: tags.className, color: "#8a4b00" },
  { tag: tags.operator, color: "#333333" },
  { tag: tags.invalid, color: "#b00020" },
]);

const CELL = /^# %%(.*)$/;

class CellMarker extends GutterMarker {
  constructor(kind) { super(); this.kind = kind; }
  eq(other) { return other.kind === this.kind; }
  toDOM() {
    const span = document.createElement("span");
    // A label, not a symbol: "▶" read as a "run this cell" button that did
    // nothing. Cells are separators here; Check runs the whole draft.
    span.className = "cm-cell-marker cm-cell-" + this.kind;
    span.textContent = this.kind === "markdown" ? "text" : "code";
    span.title = this.kind === "markdown"
      ? "A text cell starts here (# %% [markdown])"
      : "A code cell starts here (# %%). Check runs the whole draft.";
    span.setAttribute("aria-hidden", "true");
    return span;
  }
}
const codeMarker = new CellMarker("code");
const textMarker = new CellMarker("markdown");

function cellLines(doc) {
  // Map each cell header line to its kind, and mark the lines of text cells.
  const heads = new Map();
  const text = new Set();
  let inText = false;
  for (let n = 1; n <= doc.lines; n++) {
    const m = CELL.exec(doc.line(n).text);
    if (m) {
      inText = /\[markdown\]/.test(m[1]);
      heads.set(n, inText ? "markdown" : "code");
    } else if (inText) {
      text.add(n);
    }
  }
  return { heads, text };
}

const cells = StateField.define({
  create: (state) => cellLines(state.doc),
  update: (value, tr) => (tr.docChanged ? cellLines(tr.state.doc) : value),
});

const headLine = Decoration.line({ class: "cm-cell-head" });
const textLine = Decoration.line({ class: "cm-md-line" });

const cellDecorations = EditorView.decorations.compute([cells], (state) => {
  const { heads, text } = state.field(cells);
  const builder = new RangeSetBuilder();
  for (let n = 1; n <= state.doc.lines; n++) {
    if (heads.has(n)) builder.add(state.doc.line(n).from, state.doc.line(n).from, headLine);
    else if (text.has(n)) builder.add(state.doc.line(n).from, state.doc.line(n).from, textLine);
  }
  return builder.finish();
});

const cellGutter = gutter({
  class: "cm-cell-gutter",
  lineMarker(view, line) {
    const n = view.state.doc.lineAt(line.from).number;
    const kind = view.state.field(cells).heads.get(n);
    return kind === "markdown" ? textMarker : kind ? codeMarker : null;
  },
  lineMarkerChange: (update) => update.docChanged,
});

// Syntax errors as you type: Lezer marks what it cannot parse as error nodes.
const syntaxLinter = linter((view) => {
  const found = [];
  syntaxTree(view.state).cursor().iterate((node) => {
    if (node.type.isError && found.length < 20) {
      const len = view.state.doc.length;
      const from = Math.min(node.from, len);
      const line = view.state.doc.lineAt(from);
      found.push({
        from,
        to: Math.min(Math.max(node.to, from + 1), line.to),
        severity: "error",
        message: "Python cannot read this line (syntax error).",
      });
    }
  });
  return found;
}, { delay: 400 });

export function createEditor(parent, { doc, readOnly = false, onChange, keys = [], label }) {
  const extensions = [
    lineNumbers(), cellGutter, foldGutter(), highlightSpecialChars(), history(),
    drawSelection(), dropCursor(), EditorState.allowMultipleSelections.of(true),
    indentOnInput(), syntaxHighlighting(highlight), bracketMatching(),
    closeBrackets(), autocompletion(), rectangularSelection(), crosshairCursor(),
    highlightActiveLine(), highlightActiveLineGutter(), highlightSelectionMatches(),
    python(), cells, cellDecorations, lintGutter(), syntaxLinter,
    // Python blocks are four spaces (the starters and PEP 8); CodeMirror's
    // default unit of two would make Tab and auto-indent mix widths in a block.
    EditorState.tabSize.of(4), indentUnit.of("    "),
    Prec.highest(keymap.of(keys)),
    keymap.of([
      ...closeBracketsKeymap, ...defaultKeymap, ...searchKeymap, ...historyKeymap,
      ...foldKeymap, ...completionKeymap, ...lintKeymap, indentWithTab,
    ]),
    EditorView.lineWrapping,
    // Escape then Tab leaves the editor (CodeMirror's tab-focus mode). Its own
    // Escape handler runs only when no key binding took the key, and
    // autocompletion takes it while a completion is pending even with no popup
    // shown, so a keyboard user's Escape silently did nothing: arm the mode on
    // every Escape from an observer, which always runs first.
    EditorView.domEventObservers({
      keydown(event, view) { if (event.key === "Escape") view.setTabFocusMode(2000); },
    }),
    // tabindex: axe (and keyboard users of the read-only view) need a focusable
    // element inside the scroller.
    EditorView.contentAttributes.of({ "aria-label": label || "Code editor", tabindex: "0" }),
  ];
  if (readOnly) extensions.push(EditorState.readOnly.of(true), EditorView.editable.of(false));
  if (onChange) {
    extensions.push(EditorView.updateListener.of((u) => { if (u.docChanged) onChange(); }));
  }
  const view = new EditorView({ state: EditorState.create({ doc, extensions }), parent });
  return {
    view,
    getText: () => view.state.doc.toString(),
    setText(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    focus: () => view.focus(),
  };
}
