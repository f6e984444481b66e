/* The patient page's referral code panel (content/_patient_referral.html): GET the patient's
   referral code and count from the API; "create" POSTs to the same URL. Uses CL (careloop.js). */
(function () {
  "use strict";
  const panel = document.getElementById("referral");
  if (!panel) return;
  const part = (name) => panel.querySelector('[data-part="' + name + '"]');
  const url = panel.dataset.url;

  function placeholder(img, text) {
    // The QR image is WeCom's; where it cannot load (no network, the fake), say what it is.
    img.replaceWith(CL.el("div", {
      class: "border rounded bg-light text-secondary small d-flex align-items-center " +
        "justify-content-center text-center p-2 flex-shrink-0",
      style: "width:112px;height:112px", "data-part": "qr", text: text,
    }));
  }

  function show(data) {
    part("loading").hidden = true;
    part("count").textContent = data.referrals;
    part("none").hidden = !!data.code;
    part("create").hidden = !!data.code || !data.can_create;
    part("code").hidden = !data.code;
    if (!data.code) return;
    const img = part("qr");
    if (img.tagName === "IMG") {
      img.alt = panel.dataset.labelQr;
      img.onerror = () => placeholder(img, data.code.state);
      img.src = data.code.qr_code;
    }
    const link = part("link");
    link.href = data.code.qr_code;
    link.textContent = data.code.qr_code;
    part("copy").onclick = async () => {
      try {
        await navigator.clipboard.writeText(data.code.qr_code);
        error("");
        part("copy").textContent = panel.dataset.labelCopied;
      } catch (_) { /* no clipboard (plain http): the link stays visible to copy by hand */ }
    };
  }

  function error(text) {
    part("error").textContent = text;
    part("error").hidden = !text;
  }

  async function load() {
    try {
      show(await CL.api(url));
    } catch (e) {
      part("loading").hidden = true;
      error(CL.errorText(e));
    }
  }

  part("create").addEventListener("click", async () => {
    const button = part("create");
    button.disabled = true;
    try {
      error("");
      show(await CL.api(url, { method: "POST" }));
    } catch (e) {
      error(CL.errorText(e));
    } finally {
      button.disabled = false;
    }
  });
  load();
})();
