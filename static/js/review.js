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
      started: Date.now(), selected: null, changed: false,
    });
    if (state.span_types.length) { renderText(); renderSpanList(); }
    bindChips();
    form().querySelectorAll("button[type=submit]").forEach((button) => {
      button.addEventListener("click", () => prepare({
        verdict: button.dataset.verdict, choice: button.dataset.choice, testCase: button.dataset.testCase,
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
    f.elements.seconds_spent.value = ((Date.now() - state.started) / 1000).toFixed(3);
    let corrected = "";
    if (action.choice !== undefined) corrected = JSON.stringify(state.choices[Number(action.choice)]);
    else if (state.span_types.length && state.changed) corrected = JSON.stringify(spanAnswer());
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

  function addSpan(type) {
    const offsets = selectionOffsets();
    if (!offsets) return false;
    state.spans = state.spans.filter((s) => s.end <= offsets.start || s.start >= offsets.end);
    state.spans.push({ start: offsets.start, end: offsets.end, type });
    state.changed = true; state.selected = null;
    window.getSelection().removeAllRanges();
    renderText(); renderSpanList();
    return true;
  }

  function renderText() {
    const container = document.getElementById("record-text");
    const cuts = new Set([0, state.text.length]);
    state.spans.forEach((s) => { cuts.add(s.start); cuts.add(s.end); });
    state.terms.forEach((t) => { cuts.add(t.start); cuts.add(t.end); });
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

  function removeSpan(index) {
    state.spans.splice(index, 1); state.changed = true; state.selected = null;
    renderText(); renderSpanList();
  }

  // --- keys ---
  document.addEventListener("keydown", (event) => {
    const target = event.target;
    if (target.matches && target.matches("input, textarea, select")) {
      if (event.key === "Escape") target.blur();
      if (target.id === "point-input" && event.key === "Enter") {
        event.preventDefault(); addPoint(target.value); target.value = "";
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    if (state && !ready()) { event.preventDefault(); return; }  // a grade is on its way: no double submits
    if (key === "u") { const undo = document.getElementById("undo-form") || document.querySelector("#review-panel form"); if (undo) { event.preventDefault(); undo.requestSubmit(); } return; }
    if (!state) return;
    const digit = /^[1-9]$/.test(key) ? Number(key) - 1 : null;
    if (key === "p") submit({ verdict: "pass" });
    else if (key === "f") submit({ verdict: "fail" });
    else if (key === "x") submit({ testCase: true });
    else if (key === "t") document.getElementById("point-input").focus();
    else if (key === "c") document.getElementById("comment").focus();
    else if (key === "j") { const link = document.getElementById("next-link"); if (link) link.click(); }
    else if (key === "k") { const link = document.getElementById("prev-link"); if (link) link.click(); }
    else if (digit !== null && !state.span_types.length && digit < state.choices.length) submit({ choice: digit });
    else if (digit !== null && digit < state.span_types.length) {
      const type = state.span_types[digit];
      if (!addSpan(type) && state.selected !== null) {
        state.spans[state.selected].type = type; state.changed = true; renderText(); renderSpanList();
      }
    } else if ((key === "Delete" || key === "Backspace") && state.span_types.length && state.selected !== null) removeSpan(state.selected);
    else return;
    event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:beforeRequest", () => { const root = panel(); if (root) delete root.dataset.ready; });
  document.addEventListener("htmx:afterSettle", () => init());
})();
