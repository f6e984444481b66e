/* The server-rendered patient forms: a form marked data-once submits once (its button is
   disabled on submit; the server's form token makes a resend harmless too), and a textarea
   with data-limit shows how many characters it has of its limit. */
(function () {
  "use strict";
  document.querySelectorAll("form[data-once]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = "1";
      form.querySelectorAll("button[type=submit]").forEach((b) => { b.disabled = true; });
    });
  });
  window.CLCounter = function (area) {
    const limit = Number(area.dataset.limit);
    const out = document.querySelector('[data-counter-for="' + area.id + '"]');
    if (!limit || !out) return;
    const update = () => {
      const n = area.value.length;
      out.textContent = n + " / " + limit;
      out.classList.toggle("text-danger", n > limit);
      area.classList.toggle("is-invalid", n > limit);
    };
    area.addEventListener("input", update);
    area.addEventListener("cl:reset", update);
    update();
  };
  document.querySelectorAll("textarea[data-limit]").forEach((area) => window.CLCounter(area));
})();
