// The review screen: every action has a key. Keys are ignored while typing in a field (Escape leaves it).
(function () {
  "use strict";
  let state = null;

  function panel() { return document.getElementById("review-panel"); }
  function form() { return document.getElementById("grade-form"); }

  function init() {
    const root = panel();
    if (!root || !root.dataset.screen) { state = null; return; }
    const data = JSON.parse(root.dataset.screen);
    state = Object.assign(data, {
      spans: data.spans.map((s) => ({ start: s.start, end: s.end, type: s.type })),
      started: Date.now(), selected: null, changed: false, cursor: null, anchor: null,
    });
    state.original = spanKey(state.spans);
    // Tokens for keyboard span creation: words and single punctuation marks, with their offsets.
    state.tokens = [...(state.text || "").matchAll(/\w+|[^\w\s]/gu)].map((m) => ({ start: m.index, end: m.index + m[0].length }));
    if (state.span_types.length) { renderText(); renderSpanList(); }
    bindChips();
    const pointInput = document.getElementById("point-input");
    if (pointInput) {
      state.options = [];
      pointInput.addEventListener("input", () => renderOptions(pointInput));
      pointInput.addEventListener("blur", () => { document.getElementById("point-options").hidden = true; });
    }
    form().querySelectorAll("button[type=submit]").forEach((button) => {
      button.addEventListener("click", () => prepare({
        verdict: button.dataset.verdict, choice: button.dataset.choice, testCase: button.dataset.testCase,
        keep: button.dataset.keep,
      }));
    });
    root.dataset.ready = "1";  // keys act only on a panel that htmx has processed and this script has set up
  }

  function ready() {
    const root = panel();
    return root && root.dataset.ready === "1" && !root.classList.contains("htmx-request");
  }

  // --- submitting a grade ---
  function prepare(action) {
    const f = form();
    f.elements.verdict.value = action.verdict || "";
    f.elements.make_test_case.value = action.testCase ? "on" : "";
    f.elements.keep_as_example.value = action.keep ? "on" : "";
    f.elements.seconds_spent.value = ((Date.now() - state.started) / 1000).toFixed(3);
    let corrected = "";
    if (action.choice !== undefined) corrected = JSON.stringify(state.choices[Number(action.choice)]);
    // Only spans that differ from what the screen opened with are a correction: adding then removing a span
    // (or changing a type and back) leaves the answer as it was, and no empty training example is made.
    else if (state.span_types.length && spanKey(state.spans) !== state.original) corrected = JSON.stringify(spanAnswer());
    f.elements.corrected_answer.value = corrected;
  }

  function submit(action) { prepare(action); form().requestSubmit(); }

  // A kind that marks spans answers {"entities": [{text, type, start, end}]} (apps/projects/kinds/ner.py).
  function spanAnswer() {
    return { entities: state.spans.slice().sort((a, b) => a.start - b.start).map((s) => ({
      text: state.text.slice(s.start, s.end), type: s.type, start: s.start, end: s.end })) };
  }

  // --- training point chips ---
  function bindChips() {
    document.querySelectorAll("#point-chips .chip button").forEach((b) => b.addEventListener("click", () => {
      b.parentElement.remove(); syncPoints();
    }));
  }

  function addPoint(name) {
    name = name.trim();
    if (!name) return;
    const chips = document.getElementById("point-chips");
    if ([...chips.children].some((c) => c.dataset.name.toLowerCase() === name.toLowerCase())) return;
    const chip = document.createElement("span");
    chip.className = "chip"; chip.dataset.name = name; chip.textContent = name + " ";
    const remove = document.createElement("button");
    remove.type = "button"; remove.className = "link"; remove.textContent = "×";
    remove.setAttribute("aria-label", "Remove " + name);
    remove.addEventListener("click", () => { chip.remove(); syncPoints(); });
    chip.appendChild(remove); chips.appendChild(chip); syncPoints();
  }

  // --- the training-point type-ahead: matches existing points by words; creating one is an explicit choice ---
  function pointMatches(typed) {
    const words = typed.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter(Boolean);
    if (!words.length) return [];
    return [...document.querySelectorAll("#point-names option")].map((o) => ({ name: o.value, hint: o.textContent }))
      .filter((p) => {
        const haystack = (p.name + " " + p.hint).toLowerCase().split(/[^\p{L}\p{N}]+/u);
        return words.every((w) => haystack.some((h) => h.startsWith(w)));
      }).slice(0, 8);
  }

  function renderOptions(input) {
    const list = document.getElementById("point-options");
    const typed = input.value.trim();
    const matches = pointMatches(typed);
    const exact = matches.some((m) => m.name.toLowerCase() === typed.toLowerCase());
    state.options = [...matches.map((m) => ({ name: m.name, hint: m.hint, create: false })),
      ...(typed && !exact ? [{ name: typed, hint: "", create: true }] : [])];
    state.highlight = state.options.length ? 0 : -1;
    list.replaceChildren(...state.options.map((option, index) => {
      const item = document.createElement("li");
      item.role = "option"; item.id = "point-option-" + index;
      item.className = option.create ? "create" : "";
      item.textContent = option.create ? "Create a new point “" + option.name + "”" : option.name;
      if (option.hint) { const hint = document.createElement("small"); hint.className = "muted"; hint.textContent = " " + option.hint; item.appendChild(hint); }
      item.addEventListener("mousedown", (e) => { e.preventDefault(); pickOption(input, index); });
      return item;
    }));
    list.hidden = !state.options.length;
    input.setAttribute("aria-expanded", String(!list.hidden));
    markHighlight(input);
  }

  function markHighlight(input) {
    document.querySelectorAll("#point-options li").forEach((li, i) => li.setAttribute("aria-selected", String(i === state.highlight)));
    input.setAttribute("aria-activedescendant", state.highlight >= 0 ? "point-option-" + state.highlight : "");
  }

  function pickOption(input, index) {
    const option = state.options[index];
    if (!option) return;
    addPoint(option.name);
    input.value = ""; renderOptions(input);
  }

  function typeaheadKey(event, input) {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (!state.options || !state.options.length) return;
      const step = event.key === "ArrowDown" ? 1 : -1;
      state.highlight = (state.highlight + step + state.options.length) % state.options.length;
      markHighlight(input);
    } else if (event.key === "Enter") {
      event.preventDefault(); pickOption(input, state.highlight);
    }
  }

  function syncPoints() {
    const names = [...document.querySelectorAll("#point-chips .chip")].map((c) => c.dataset.name);
    form().elements.point_names.value = names.join("\n");
  }

  // --- spans (kinds with span types) ---
  function selectionOffsets() {
    const container = document.getElementById("record-text");
    const selection = window.getSelection();
    if (!selection.rangeCount || selection.isCollapsed) return null;
    const range = selection.getRangeAt(0);
    if (!container.contains(range.startContainer) || !container.contains(range.endContainer)) return null;
    const before = document.createRange();
    before.setStart(container, 0); before.setEnd(range.startContainer, range.startOffset);
    let start = before.toString().length;
    let end = start + range.toString().length;
    while (start < end && /\s/.test(state.text[start])) start++;
    while (end > start && /\s/.test(state.text[end - 1])) end--;
    return end > start ? { start, end } : null;
  }

  function spanKey(spans) {
    return JSON.stringify(spans.map((s) => [s.start, s.end, s.type]).sort((a, b) => a[0] - b[0] || a[1] - b[1]));
  }

  // --- the token cursor: arrows move it, Shift+arrows extend it, a type's number makes it a span ---
  function cursorOffsets() {
    if (state.cursor === null || !state.tokens.length) return null;
    const from = Math.min(state.cursor, state.anchor), to = Math.max(state.cursor, state.anchor);
    return { start: state.tokens[from].start, end: state.tokens[to].end };
  }

  function moveCursor(step, extend) {
    if (!state.tokens.length) return;
    const last = state.tokens.length - 1;
    state.cursor = state.cursor === null ? 0 : Math.max(0, Math.min(last, state.cursor + step));
    if (!extend || state.anchor === null) state.anchor = state.cursor;
    renderText();
  }

  function addSpan(type) {
    const offsets = selectionOffsets() || cursorOffsets();
    if (!offsets) return false;
    state.spans = state.spans.filter((s) => s.end <= offsets.start || s.start >= offsets.end);
    state.spans.push({ start: offsets.start, end: offsets.end, type });
    state.changed = true; state.selected = null; state.anchor = state.cursor;
    window.getSelection().removeAllRanges();
    renderText(); renderSpanList();
    return true;
  }

  function renderText() {
    const container = document.getElementById("record-text");
    const cuts = new Set([0, state.text.length]);
    state.spans.forEach((s) => { cuts.add(s.start); cuts.add(s.end); });
    state.terms.forEach((t) => { cuts.add(t.start); cuts.add(t.end); });
    const chosen = cursorOffsets();
    if (chosen) { cuts.add(chosen.start); cuts.add(chosen.end); }
    const points = [...cuts].sort((a, b) => a - b);
    const ordered = state.spans.map((s, i) => [s, i]).sort((a, b) => a[0].start - b[0].start);
    const fragment = document.createDocumentFragment();
    for (let k = 0; k < points.length - 1; k++) {
      const from = points[k], to = points[k + 1];
      if (from === to) continue;
      const piece = state.text.slice(from, to);
      const span = ordered.find(([s]) => s.start <= from && to <= s.end);
      const term = state.terms.find((t) => t.start <= from && to <= t.end);
      let node = document.createTextNode(piece);
      if (term) { const dfn = document.createElement("dfn"); dfn.title = term.definition; dfn.appendChild(node); node = dfn; }
      if (chosen && chosen.start <= from && to <= chosen.end) {
        const cursor = document.createElement("span"); cursor.className = "tok-cursor"; cursor.appendChild(node); node = cursor;
      }
      if (span) {
        const index = state.span_types.indexOf(span[0].type);
        const mark = document.createElement("mark");
        mark.className = "ent t" + Math.max(index, 0) + (state.selected === span[1] ? " selected" : "");
        mark.dataset.span = span[1]; mark.title = span[0].type;
        mark.appendChild(node); node = mark;
      }
      fragment.appendChild(node);
    }
    container.replaceChildren(fragment);
    container.querySelectorAll("mark").forEach((m) => m.addEventListener("click", () => {
      state.selected = Number(m.dataset.span); renderText(); renderSpanList();
    }));
  }

  function renderSpanList() {
    const list = document.getElementById("span-list");
    if (!list) return;
    list.replaceChildren(...state.spans.slice().sort((a, b) => a.start - b.start).map((s) => {
      const index = state.spans.indexOf(s);
      const item = document.createElement("span");
      item.className = "chip ent-chip t" + Math.max(state.span_types.indexOf(s.type), 0)
        + (state.selected === index ? " selected" : "");
      item.textContent = state.text.slice(s.start, s.end) + " · " + s.type + " ";
      const remove = document.createElement("button");
      remove.type = "button"; remove.className = "link"; remove.textContent = "×";
      remove.setAttribute("aria-label", "Remove span " + state.text.slice(s.start, s.end));
      remove.addEventListener("click", () => removeSpan(index));
      item.appendChild(remove);
      item.addEventListener("click", (e) => { if (e.target === item) { state.selected = index; renderText(); renderSpanList(); } });
      return item;
    }));
  }

  // A type's number key or a tap on its chip: mark the selection (or the token cursor), or retype the chosen span.
  function applyType(index) {
    const type = state.span_types[index];
    if (!addSpan(type) && state.selected !== null) {
      state.spans[state.selected].type = type; state.changed = true; renderText(); renderSpanList();
    }
  }

  // --- the ? overlay: every key of this screen, drawn by the server from the list the key buttons come from ---
  function toggleKeyHelp(show) {
    const help = document.getElementById("key-help");
    if (!help) return false;
    help.hidden = show === undefined ? !help.hidden : !show;
    return true;
  }

  function removeSpan(index) {
    state.spans.splice(index, 1); state.changed = true; state.selected = null;
    renderText(); renderSpanList();
  }

  // --- keys ---
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target.matches && target.matches("input, textarea, select")) {
      if (event.key === "Escape") { target.blur(); toggleKeyHelp(false); }
      if (target.id === "point-input") typeaheadKey(event, target);
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    if (key === "?" && toggleKeyHelp()) { event.preventDefault(); return; }
    if (key === "Escape") { toggleKeyHelp(false); return; }
    if (state && !ready()) { event.preventDefault(); return; }  // a grade is on its way: no double submits
    if (key === "u") { const undo = document.getElementById("undo-form") || document.querySelector("#review-panel form"); if (undo) { event.preventDefault(); undo.requestSubmit(); } return; }
    if (!state) return;
    const digit = /^[1-9]$/.test(key) ? Number(key) - 1 : null;
    if (key === "p") submit({ verdict: "pass" });
    else if (key === "e") submit({ verdict: "pass", keep: true });
    else if (key === "f") submit({ verdict: "fail" });
    else if (key === "x") submit({ testCase: true });
    else if (key === "t") document.getElementById("point-input").focus();
    else if (key === "c") document.getElementById("comment").focus();
    else if (key === "j") { const link = document.getElementById("next-link"); if (link) link.click(); }
    else if (key === "k") { const link = document.getElementById("prev-link"); if (link) link.click(); }
    else if (digit !== null && !state.span_types.length && digit < state.choices.length) submit({ choice: digit });
    else if ((key === "ArrowRight" || key === "ArrowLeft") && state.span_types.length) moveCursor(key === "ArrowRight" ? 1 : -1, event.shiftKey);
    else if (digit !== null && digit < state.span_types.length) applyType(digit);
    else if ((key === "Delete" || key === "Backspace") && state.span_types.length && state.selected !== null) removeSpan(state.selected);
    else return;
    event.preventDefault();
  });

  // Taps, bound once for every panel htmx swaps in: a type chip marks the selection, the ? button shows the keys.
  document.addEventListener("mousedown", (event) => {
    if (event.target.closest("#grade-form button[data-span-type]")) event.preventDefault();  // keep the words selected
  });
  document.addEventListener("click", (event) => {
    const typeButton = event.target.closest("#grade-form button[data-span-type]");
    if (typeButton && state && ready()) applyType(Number(typeButton.dataset.spanType));
    else if (event.target.closest("#key-help-button")) toggleKeyHelp();
    else if (event.target.closest("[data-close-key-help]")) toggleKeyHelp(false);
  });

  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:beforeRequest", () => { const root = panel(); if (root) delete root.dataset.ready; });
  document.addEventListener("htmx:afterSettle", () => init());
})();
