// The Ask page: streams the assistant's answer (server-sent events), then shows it as the assistant
// wrote it — Markdown lines, "- " items as a list, [Title](/books/<id>) as links to the book — with a
// model's [<id>] citations and every cited title the text names also linked to its book, and the cited
// books listed under the answer. Built with DOM nodes only.
(() => {
  const form = document.getElementById("ask-form"), input = document.getElementById("ask-q");
  const answer = document.getElementById("ask-answer"), note = document.getElementById("ask-note");
  const cited = document.getElementById("ask-cited"), citedTitle = document.getElementById("ask-cited-title");
  const REF = /\[([^\]]+)\]\((\/books\/[a-z0-9-]+)\)|\[([a-z0-9][a-z0-9-]*)\]/g;
  let source = null;
  function link(href, title) {
    const a = document.createElement("a");
    a.href = href; a.textContent = title;
    return a;
  }
  // A cited title in plain text becomes a link to its book (a whole title only, so "Emma" stays
  // plain inside "Emmanuel").
  function titlesIn(text, citations) {
    if (citations.length === 0) return [text];
    const byTitle = new Map(citations.map((c) => [c.title, c]));
    const escaped = [...byTitle.keys()].sort((a, b) => b.length - a.length)
      .map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    const titles = new RegExp("(?<![\\p{L}\\p{N}])(" + escaped.join("|") + ")(?![\\p{L}\\p{N}])", "u");
    return text.split(titles).map((part, i) => (i % 2 ? link(byTitle.get(part).url, part) : part));
  }
  function inline(text, citations) {
    const byId = new Map(citations.map((c) => [c.id, c]));
    const nodes = [];
    let at = 0;
    for (const m of text.matchAll(REF)) {
      nodes.push(...titlesIn(text.slice(at, m.index), citations));
      if (m[2]) nodes.push(link(m[2], m[1]));
      else if (byId.has(m[3])) nodes.push(link(byId.get(m[3]).url, byId.get(m[3]).title));
      else nodes.push(m[0]);
      at = m.index + m[0].length;
    }
    nodes.push(...titlesIn(text.slice(at), citations));
    return nodes;
  }
  function render(text, citations) {
    const blocks = [];
    let list = null;
    for (const line of text.split("\n")) {
      if (line.startsWith("- ")) {
        if (!list) { list = document.createElement("ul"); blocks.push(list); }
        const li = document.createElement("li");
        li.append(...inline(line.slice(2), citations));
        list.append(li);
      } else if (line.trim()) {
        list = null;
        const p = document.createElement("p");
        p.append(...inline(line, citations));
        blocks.push(p);
      }
    }
    answer.replaceChildren(...blocks);
  }
  function ask(question) {
    if (source) source.close();
    answer.textContent = ""; cited.replaceChildren(); citedTitle.hidden = true; note.hidden = true;
    let text = "";
    source = new EventSource("/api/v1/assistant/ask?q=" + encodeURIComponent(question));
    source.addEventListener("chunk", (e) => { text += JSON.parse(e.data).text; answer.textContent = text; });
    source.addEventListener("done", (e) => {
      const done = JSON.parse(e.data);
      source.close();
      render(text, done.citations);
      if (done.note) { note.textContent = done.note; note.hidden = false; }
      for (const c of done.citations) {
        const li = document.createElement("li");
        li.append(link(c.url, c.title), " by " + c.author);
        cited.append(li);
      }
      citedTitle.hidden = done.citations.length === 0;
    });
    const failed = (e) => {
      source.close();
      let message = "The assistant is unavailable right now; search still works.";
      try { message = JSON.parse(e.data).message || message; } catch (_) {}
      note.textContent = message; note.hidden = false;
    };
    source.addEventListener("error", failed);
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    history.replaceState(null, "", "/assistant?q=" + encodeURIComponent(input.value));
    ask(input.value);
  });
  if (input.value) ask(input.value);
})();
