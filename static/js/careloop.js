// CareLoop's few behaviours on every page, without inline script (the CSP allows none):
// - <select data-submit-on-change>: submits its form when changed (the language switch);
// - <form data-confirm="…">: asks before submitting;
// - <img data-fallback-text="…">: a placeholder with that text when the image does not load.
document.addEventListener("change", (event) => {
  const select = event.target.closest("select[data-submit-on-change]");
  if (select && select.form) select.form.submit();
});
document.addEventListener("submit", (event) => {
  const form = event.target.closest("form[data-confirm]");
  if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
}, true);
function careloopImageFallback(img) {
  const placeholder = document.createElement("div");
  placeholder.className = "cl-qr-placeholder";
  placeholder.textContent = img.dataset.fallbackText;
  img.replaceWith(placeholder);
}
document.addEventListener("error", (event) => {
  const img = event.target;
  if (img instanceof HTMLImageElement && img.dataset.fallbackText !== undefined) {
    careloopImageFallback(img);
  }
}, true);
document.querySelectorAll("img[data-fallback-text]").forEach((img) => {
  if (img.complete && img.naturalWidth === 0) careloopImageFallback(img);
});
// - [data-width-percent]: a progress bar's width, set through the DOM (no style attribute).
document.querySelectorAll("[data-width-percent]").forEach((bar) => {
  bar.style.width = `${Number(bar.dataset.widthPercent) || 0}%`;
});
