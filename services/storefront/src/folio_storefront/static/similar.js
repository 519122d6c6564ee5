// "Similar books" from the assistant, loaded after the page so the book page never waits for it.
(() => {
  const section = document.getElementById("similar-books");
  const url = "/api/v1/books/" + encodeURIComponent(section.dataset.book) + "/similar?limit=6";
  fetch(url).then((r) => r.ok ? r.json() : null).then((body) => {
    if (!body || body.books.length === 0) return;
    const list = section.querySelector("ul");
    for (const b of body.books) {
      const li = document.createElement("li"), a = document.createElement("a");
      a.href = b.url; a.textContent = b.title; li.append(a, " by " + b.author + " — " + b.reason);
      list.append(li);
    }
    section.hidden = false;
  }).catch(() => {});
})();
