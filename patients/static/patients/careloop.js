/* CareLoop's few page helpers: the API with CSRF and the one error shape, a DOM builder,
   message interpolation and a status line. No framework, no bundler. */
(function () {
  "use strict";
  function cookie(name) {
    const m = document.cookie.match("(^|;)\\s*" + name + "=([^;]*)");
    return m ? decodeURIComponent(m[2]) : "";
  }
  class ApiError extends Error {
    constructor(body, status) {
      super((body && body.message) || "HTTP " + status);
      this.body = body || {};
      this.status = status;
    }
  }
  async function api(url, options) {
    options = options || {};
    const init = { method: options.method || "GET", credentials: "same-origin",
      headers: Object.assign({ "Accept": "application/json" }, options.headers || {}) };
    if (options.body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    if (init.method !== "GET") init.headers["X-CSRFToken"] = cookie("csrftoken");
    const response = await fetch(url, init);
    const body = await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(body, response.status);
    return body;
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
  function fmt(template, values) {
    return template.replace(/%\((\w+)\)s/g, (_, key) => (key in values ? values[key] : ""));
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
  window.CL = { api, errorText, fieldErrors, el, fmt, status, percent, when, config, ApiError };
})();
