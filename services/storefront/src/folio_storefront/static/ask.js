// The Ask page: streams the assistant's answer (server-sent events) and links the cited books,
// both in the list under the answer and where the answer names them.
(() => {
  const form = document.getElementById("ask-form"), input = document.getElementById("ask-q");
  const answer = document.getElementById("ask-answer"), note = document.getElementById("ask-note");
  const cited = document.getElementById("ask-cited"), citedTitle = document.getElementById("ask-cited-title");
  let source = null;
  function bookLink(citation) {
    const a = document.createElement("a");
    a.href = citation.url; a.textContent = citation.title;
    return a;
  }
  // Each cited title in the answer's text becomes a link to its book (a whole title only, so
  // "Emma" stays plain inside "Emmanuel"); everything else stays text.
  function linkTitles(citations) {
    const byTitle = new Map(citations.map((c) => [c.title, c]));
    if (byTitle.size === 0) return;
    const escaped = [...byTitle.keys()].sort((a, b) => b.length - a.length)
      .map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
    const titles = new RegExp("(?<![\\p{L}\\p{N}])(" + escaped.join("|") + ")(?![\\p{L}\\p{N}])", "u");
    const parts = answer.textContent.split(titles);
    answer.replaceChildren(...parts.map((part, i) => i % 2 ? bookLink(byTitle.get(part)) : part));
  }
  function ask(question) {
    if (source) source.close();
    answer.textContent = ""; cited.replaceChildren(); citedTitle.hidden = true; note.hidden = true;
    source = new EventSource("/api/v1/assistant/ask?q=" + encodeURIComponent(question));
    source.addEventListener("chunk", (e) => { answer.textContent += JSON.parse(e.data).text; });
    source.addEventListener("done", (e) => {
      const done = JSON.parse(e.data);
      source.close();
      if (done.note) { note.textContent = done.note; note.hidden = false; }
      for (const c of done.citations) {
        const li = document.createElement("li");
        li.append(bookLink(c), " by " + c.author);
        cited.append(li);
      }
      citedTitle.hidden = done.citations.length === 0;
      linkTitles(done.citations);
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
