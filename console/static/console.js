// flowctl console: completion for the flow editor from the flow format's JSON Schema
// (GET /flow.schema.json, what `flowctl schema` prints). No build step, no dependency.
//
// Where the cursor is, the text before it is read as JSON just far enough to know the
// path (`agents` > 0 > `edges` > 1) and whether a key or a value comes next; the schema
// at that path gives the property names (or the enum values, true/false) to offer.
// Ctrl+Space or typing a quote opens the list; arrows move, Enter or Tab takes one,
// Escape closes. The list is a listbox the textarea points at (aria-activedescendant).
"use strict";
(function () {
  const area = document.querySelector("textarea[data-schema]");
  const list = document.getElementById("completions");
  if (!area || !list) return;
  let schema = null;
  let items = [];
  let chosen = 0;
  fetch(area.dataset.schema, { credentials: "same-origin" })
    .then((r) => r.json())
    .then((s) => { schema = s; });

  // The path to the cursor and what is expected there: {path, key: bool, prefix}.
  function where(text) {
    const stack = []; // {kind: "object"|"array", key, index, expectKey}
    let i = 0;
    let lastString = null;
    while (i < text.length) {
      const c = text[i];
      if (c === '"') {
        let j = i + 1;
        while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
        if (j >= text.length) { // the cursor is inside this string
          const top = stack[stack.length - 1];
          return { stack, key: !!(top && top.kind === "object" && top.expectKey),
                   prefix: text.slice(i + 1), quoted: true };
        }
        lastString = text.slice(i + 1, j);
        i = j + 1;
        continue;
      }
      const top = stack[stack.length - 1];
      if (c === "{") stack.push({ kind: "object", key: null, expectKey: true });
      else if (c === "[") stack.push({ kind: "array", index: 0 });
      else if (c === "}" || c === "]") stack.pop();
      else if (c === ":" && top && top.kind === "object") { top.key = lastString; top.expectKey = false; }
      else if (c === "," && top) { if (top.kind === "object") top.expectKey = true; else top.index += 1; }
      i += 1;
    }
    const top = stack[stack.length - 1];
    return { stack, key: !!(top && top.kind === "object" && top.expectKey), prefix: "", quoted: false };
  }

  function resolve(node) {
    while (node && node.$ref) node = schema.$defs[node.$ref.split("/").pop()];
    return node || {};
  }
  // Every schema a node may be (anyOf/oneOf flattened), resolved.
  function variants(node) {
    node = resolve(node);
    const alts = node.anyOf || node.oneOf;
    return alts ? alts.flatMap(variants) : [node];
  }
  function at(stack) {
    let nodes = variants(schema);
    for (let d = 0; d < stack.length; d++) {
      const frame = stack[d];
      const deeper = d < stack.length - 1; // the frames above hold the one we are in
      if (!deeper) break;
      const next = [];
      for (const n of nodes) {
        if (frame.kind === "object" && n.properties && frame.key in n.properties) next.push(...variants(n.properties[frame.key]));
        else if (frame.kind === "object" && n.additionalProperties && typeof n.additionalProperties === "object") next.push(...variants(n.additionalProperties));
        else if (frame.kind === "array" && n.items) next.push(...variants(n.items));
      }
      nodes = next;
    }
    return nodes;
  }

  function candidates() {
    if (!schema) return [];
    const text = area.value.slice(0, area.selectionStart);
    const spot = where(text);
    const nodes = at(spot.stack);
    const out = new Map();
    if (spot.key) {
      for (const n of nodes) for (const [name, p] of Object.entries(n.properties || {})) {
        if (!out.has(name)) out.set(name, resolve(p).description || "");
      }
    } else {
      const top = spot.stack[spot.stack.length - 1];
      const valueNodes = top && top.kind === "object"
        ? nodes.flatMap((n) => (n.properties && top.key in n.properties ? variants(n.properties[top.key]) : []))
        : nodes.flatMap((n) => (n.items ? variants(n.items) : []));
      for (const v of valueNodes) {
        for (const e of v.enum || []) out.set(JSON.stringify(e), "");
        if (v.const !== undefined) out.set(JSON.stringify(v.const), "");
        if (v.type === "boolean") { out.set("true", ""); out.set("false", ""); }
      }
    }
    const prefix = spot.prefix.toLowerCase();
    return [...out].filter(([name]) => name.replace(/^"/, "").toLowerCase().startsWith(prefix))
      .map(([name, description]) => ({ name, description, spot }));
  }

  function show() {
    items = candidates();
    chosen = 0;
    list.replaceChildren(...items.map((item, k) => {
      const li = document.createElement("li");
      li.id = `completion-${k}`;
      li.setAttribute("role", "option");
      li.textContent = item.name;
      if (item.description) {
        const small = document.createElement("small");
        small.textContent = item.description.slice(0, 60);
        li.append(" ", small);
      }
      li.addEventListener("mousedown", (e) => { e.preventDefault(); chosen = k; take(); });
      return li;
    }));
    list.hidden = items.length === 0;
    mark();
  }
  function hide() { list.hidden = true; items = []; area.removeAttribute("aria-activedescendant"); }
  function mark() {
    [...list.children].forEach((li, k) => li.setAttribute("aria-selected", String(k === chosen)));
    if (items.length) {
      area.setAttribute("aria-activedescendant", `completion-${chosen}`);
      list.children[chosen].scrollIntoView({ block: "nearest" });
    }
  }
  function take() {
    const item = items[chosen];
    if (!item) return;
    const end = area.selectionStart;
    const start = end - item.spot.prefix.length - (item.spot.quoted ? 1 : 0);
    let text = item.spot.key ? `"${item.name}": ` : item.name;
    if (!item.spot.key && item.spot.quoted && !item.name.startsWith('"')) text = item.name;
    area.setRangeText(text, start, end, "end");
    hide();
    area.dispatchEvent(new Event("input", { bubbles: true })); // lint again
  }

  area.addEventListener("keydown", (e) => {
    if (e.key === " " && e.ctrlKey) { e.preventDefault(); show(); return; }
    if (list.hidden) return;
    if (e.key === "ArrowDown") { e.preventDefault(); chosen = (chosen + 1) % items.length; mark(); }
    else if (e.key === "ArrowUp") { e.preventDefault(); chosen = (chosen + items.length - 1) % items.length; mark(); }
    else if (e.key === "Enter" || e.key === "Tab") { e.preventDefault(); take(); }
    else if (e.key === "Escape") { e.preventDefault(); hide(); }
  });
  area.addEventListener("input", (e) => {
    if (!e.isTrusted) return;
    const typed = area.value[area.selectionStart - 1];
    if (typed === '"' || !list.hidden) show();
  });
  area.addEventListener("blur", hide);
})();
