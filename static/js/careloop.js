/* CareLoop's one front-end module (no framework, no bundler; the CSP allows no inline script).
   base.html loads it on every staff page, before the pages' own scripts, as window.CL:
   - CL.api(url, options): the API with the session and its CSRF token, the one error shape
     (ApiError), and an answer in the user's language when the server gives none;
   - CL.pages(url): every row of a DRF list, following `next` to the end (a picker of a
     clinic's templates or accounts loads them all: never a silent "first 200");
   - CL.searchPicker(...): a picker that asks the server as the user types (a picker of
     patients: a clinic has too many to load, and the search stays out of the URL);
   - CL.labels(node): a node's data-label-* attributes, the page's translated words;
   - CL.errorText, CL.fieldErrors, CL.status: errors and outcomes shown on the page;
   - CL.el, CL.fmt, CL.when, CL.percent, CL.config: building the page.
   And the few behaviours every page shares:
   - <select data-submit-on-change>: submits its form when changed (the language switch);
   - <form data-confirm="…">: asks before submitting;
   - <img data-fallback-text="…">: a placeholder with that text when the image does not load;
   - [data-width-percent]: a progress bar's width, set through the DOM (no style attribute). */
(function () {
  "use strict";
  const script = document.currentScript;
  const WORDS = labels(script);  // base.html's words: the generic errors, "more results"
  const MAX_PAGE = 200;  // crm.api's max_page_size: fewest requests when following `next`

  function cookie(name) {
    const m = document.cookie.match("(^|;)\\s*" + name + "=([^;]*)");
    return m ? decodeURIComponent(m[2]) : "";
  }

  /* data-label-due-soon="…" → { dueSoon: "…" } */
  function labels(node) {
    const out = {};
    if (!node) return out;
    for (const [key, value] of Object.entries(node.dataset)) {
      if (key.startsWith("label") && key.length > 5) {
        out[key.charAt(5).toLowerCase() + key.slice(6)] = value;
      }
    }
    return out;
  }

  function fmt(template, values) {
    return String(template || "").replace(/%\((\w+)\)s/g, (_, key) => (key in values ? values[key] : ""));
  }

  class ApiError extends Error {
    /* body: the API's error shape {message, errors}; a status 0 is no answer at all. */
    constructor(body, status) {
      super((body && body.message) ||
        (status ? fmt(WORDS.httpError, { status }) : WORDS.networkError) || "HTTP " + status);
      this.body = body || {};
      this.status = status;
    }
  }

  async function api(url, options) {
    options = options || {};
    const init = { method: options.method || "GET", credentials: "same-origin",
      headers: Object.assign({ "Accept": "application/json" }, options.headers || {}) };
    if (options.body instanceof FormData) {
      init.body = options.body;  // a file upload: the browser sets the multipart boundary
    } else if (options.body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    if (init.method !== "GET") init.headers["X-CSRFToken"] = cookie("csrftoken");
    let response;
    try {
      response = await fetch(url, init);
    } catch (_) {
      throw new ApiError(null, 0);
    }
    if (response.status === 204) return null;
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(body, response.status);
    return body;
  }

  function withParams(url, params) {
    const target = new URL(url, location.href);
    for (const [key, value] of Object.entries(params || {})) {
      if (value !== undefined && value !== null && value !== "") target.searchParams.set(key, value);
    }
    return target.href;
  }

  /* Every row of a DRF list: the first page at the largest size, then each `next` to the end. */
  async function pages(url, options) {
    const first = new URL(url, location.href);
    if (!first.searchParams.has("page_size")) first.searchParams.set("page_size", MAX_PAGE);
    const rows = [];
    let next = first.href;
    while (next) {
      const data = await api(next, options);
      rows.push(...data.results);
      next = data.next;
    }
    return rows;
  }

  /* A picker that searches the server as the user types.
     input: the search box; select: the <select> it fills; url: a DRF list;
     headers(text): the request's headers for a text (patients: X-Search, out of the URL);
     option(row): the <option> for a row; onError(error): where the error is shown.
     Only the latest answer is drawn; a page with more rows says "keep typing"; a multiple
     select keeps the options picked before. */
  function searchPicker({ input, select, url, headers, option, onError, size = 20, wait = 250 }) {
    let ticket = 0;
    let timer = null;
    async function search() {
      const mine = ++ticket;
      const text = input.value.trim();
      try {
        const data = await api(withParams(url, { page_size: size }), { headers: headers ? headers(text) : {} });
        if (mine !== ticket) return;
        const chosen = select.value;
        // A multiple select keeps what is picked, whatever the new answer holds.
        const kept = select.multiple ? [...select.selectedOptions].filter((o) => o.value) : [];
        const keptValues = new Set(kept.map((o) => o.value));
        const options = [...kept, ...data.results.map(option).filter((o) => !keptValues.has(o.value))];
        if (!data.results.length) options.push(el("option", { value: "", disabled: true, text: WORDS.noMatch }));
        if (data.next) {
          options.push(el("option", { value: "", disabled: true,
            text: fmt(WORDS.moreMatches, { n: data.count - data.results.length }) }));
        }
        select.replaceChildren(...options);
        if (!select.multiple && [...select.options].some((o) => o.value === chosen && chosen)) select.value = chosen;
        select.dispatchEvent(new Event("cl:searched"));
      } catch (error) {
        if (mine === ticket && onError) onError(error);
      }
    }
    input.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(search, wait);
    });
    return search();
  }

  /* The error shape's message plus each field's first error, in the user's language. */
  function errorText(error) {
    const parts = [error.message];
    const errors = (error.body && error.body.errors) || {};
    for (const key of Object.keys(errors)) {
      const value = errors[key];
      const first = Array.isArray(value) ? value[0] : value;
      if (typeof first === "string" && first !== error.message) parts.push(first);
    }
    return parts.join(" ");
  }

  /* Each field's errors next to that field, named by its label; returns the keys that had no
     field in the form (the status line carries those). */
  function fieldErrors(form, error) {
    form.querySelectorAll(".cl-field-error").forEach((node) => node.remove());
    form.querySelectorAll(".is-invalid").forEach((node) => node.classList.remove("is-invalid"));
    const errors = (error && error.body && error.body.errors) || {};
    const unplaced = [];
    for (const key of Object.keys(errors)) {
      const input = form.querySelector('[name="' + key + '"]');
      const messages = [].concat(errors[key]).filter((m) => typeof m === "string");
      if (!input || !messages.length) { unplaced.push(key); continue; }
      const label = input.id ? form.querySelector('label[for="' + input.id + '"]') : null;
      const name = label ? label.textContent.trim() : "";
      input.classList.add("is-invalid");
      const node = el("div", { class: "cl-field-error invalid-feedback d-block", "data-field": key,
        "data-testid": "field-error" }, [name ? el("strong", { text: name + "：" }) : null, messages.join(" ")]);
      input.after(node);
    }
    return unplaced;
  }

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else if (key === "style") node.style.cssText = value;  // the CSP refuses style attributes
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of [].concat(children || [])) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function status(node, text, kind) {
    node.textContent = text;
    node.className = "cl-status alert alert-" + (kind || "success") + " py-2 px-3 mb-3";
    node.hidden = !text;
  }

  function percent(value) {
    return value === null || value === undefined ? "—" : (value * 100).toFixed(1) + "%";
  }

  /* "2026-11-22T08:05:00+08:00" → "2026-11-22 08:05" (the API answers in Asia/Shanghai). */
  function when(iso) {
    return iso ? iso.slice(0, 16).replace("T", " ") : "";
  }

  function config() {
    const node = document.getElementById("page-config");
    return node ? JSON.parse(node.textContent) : {};
  }

  window.CL = { api, pages, searchPicker, withParams, labels, errorText, fieldErrors, el, fmt,
    status, percent, when, config, ApiError };

  // The behaviours every page shares -------------------------------------------------------
  document.addEventListener("change", (event) => {
    const select = event.target.closest("select[data-submit-on-change]");
    if (select && select.form) select.form.submit();
  });
  document.addEventListener("submit", (event) => {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  }, true);
  function imageFallback(img) {
    const placeholder = document.createElement("div");
    placeholder.className = "cl-qr-placeholder";
    placeholder.textContent = img.dataset.fallbackText;
    img.replaceWith(placeholder);
  }
  document.addEventListener("error", (event) => {
    const img = event.target;
    if (img instanceof HTMLImageElement && img.dataset.fallbackText !== undefined) imageFallback(img);
  }, true);
  document.querySelectorAll("img[data-fallback-text]").forEach((img) => {
    if (img.complete && img.naturalWidth === 0) imageFallback(img);
  });
  document.querySelectorAll("[data-width-percent]").forEach((bar) => {
    bar.style.width = `${Number(bar.dataset.widthPercent) || 0}%`;
  });
})();
