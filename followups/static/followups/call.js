/* 拨打: a [data-call] block (the queue's rows, the patient page's open follow-ups) holds a
   button [data-part=call]. Clicking it POSTs to the task's /call/ endpoint, which writes the
   audit row and answers the full number; the block then shows it as a tel: link. The number
   is kept only for this call: once the link is used, or the page is left, the masked number
   comes back and the full one is gone from the page. Uses CL (careloop.js). */
(function () {
  "use strict";
  const shown = new Set();

  function hide(block) {
    const link = block.querySelector('[data-part="tel"]');
    if (link) link.remove();
    const masked = block.querySelector('[data-part="masked"]');
    const button = block.querySelector('[data-part="call"]');
    if (masked) masked.hidden = false;
    if (button) button.hidden = false;
    shown.delete(block);
  }

  async function call(block) {
    const button = block.querySelector('[data-part="call"]');
    const error = block.querySelector('[data-part="call-error"]');
    button.disabled = true;
    if (error) error.remove();
    try {
      const number = await CL.api(block.dataset.call, { method: "POST" });
      const link = CL.el("a", {
        href: number.tel, class: "btn btn-sm btn-primary", "data-part": "tel",
        "data-testid": "tel", text: CL.fmt(block.dataset.labelDial, { phone: number.phone }),
      });
      // After the dialler has the number, the page forgets it.
      link.addEventListener("click", () => setTimeout(() => hide(block), 0));
      const masked = block.querySelector('[data-part="masked"]');
      if (masked) masked.hidden = true;
      button.hidden = true;
      block.append(link);
      shown.add(block);
    } catch (e) {
      block.append(CL.el("span", { class: "small text-danger", "data-part": "call-error",
        role: "alert", text: CL.errorText(e) }));
    } finally {
      button.disabled = false;
    }
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest('[data-call] [data-part="call"]');
    if (button) call(button.closest("[data-call]"));
  });
  // Leaving or hiding the page ends the call's number too (and the back-forward cache).
  const forget = () => shown.forEach(hide);
  window.addEventListener("pagehide", forget);
  document.addEventListener("visibilitychange", () => { if (document.hidden) forget(); });
})();
