/* Every form the browser itself submits (method="post", no page script handling it) is sent
   once: a second click while the first is on its way does nothing. The button is disabled
   after the submission is built, so its name and value still go with it. Forms that a page
   script submits with fetch (it calls preventDefault) are left to that script. Create pages
   also carry a server-side token (crm/idempotency.py): this is the first guard, not the only. */
(function () {
  "use strict";
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (event.defaultPrevented || (form.method || "").toLowerCase() !== "post") return;
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
    setTimeout(() => {
      form.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]")
        .forEach((button) => { button.disabled = true; });
    }, 0);
  });
  /* Back to a page from the browser's cache: the form may be sent again. */
  window.addEventListener("pageshow", () => {
    document.querySelectorAll("form[data-sent]").forEach((form) => {
      delete form.dataset.sent;
      form.querySelectorAll("button[disabled], input[type=submit][disabled]")
        .forEach((button) => { button.disabled = false; });
    });
  });
})();
