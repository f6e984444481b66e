  // After a simulated scan the worker needs a moment: refresh the arrivals for 30 s, and once
  // the new patient has been welcomed, reload the page so the counts include them too.
  if (new URLSearchParams(location.search).has("scanned")) {
    const box = document.getElementById("arrivals");
    const newest = () => box.querySelector("[data-testid=arrival]");
    const before = newest() ? newest().dataset.id : null;
    let rounds = 0;
    const timer = setInterval(() => {
      fetch(box.dataset.url).then((r) => r.text()).then((html) => {
        box.innerHTML = html;
        const first = newest();
        if (first && first.dataset.id !== before && first.querySelector("[data-kind=welcome]")) {
          clearInterval(timer);
          setTimeout(() => location.replace(location.pathname), 1500);
        }
      });
      if (++rounds >= 15) clearInterval(timer);
    }, 1000);
  }
