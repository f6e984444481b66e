/* The patient forms: a textarea with data-limit shows how many characters it has of its
   limit (the service refuses longer text; nothing is cut). Submitting once: static/js/submit-once.js. */
(function () {
  "use strict";
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
