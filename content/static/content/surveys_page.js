/* The survey page's invitation form (content/surveys_page.html): the patients picker searches
   the server as one types (CL.searchPicker; the text in the X-Search header, out of the URL).
   Patients already picked stay picked while the list shows another search's answer.
   Uses CL (careloop.js). */
(function () {
  "use strict";
  const config = document.currentScript.dataset;
  const select = document.querySelector("select[data-search-patients]");
  if (!select) return;
  const words = CL.labels(document.currentScript);
  const input = CL.el("input", { type: "search", class: "form-control mb-1", autocomplete: "off",
    placeholder: words.search, "aria-label": words.search, "data-testid": "patients-search" });
  select.before(input);
  const problem = CL.el("div", { class: "small text-danger", role: "alert", hidden: true });
  select.after(problem);
  CL.searchPicker({
    input, select, url: config.url,
    headers: (text) => (text ? { "X-Search": encodeURIComponent(text) } : {}),
    option: (p) => CL.el("option", { value: p.id, text: p.name + (p.phone_masked ? " · " + p.phone_masked : "") }),
    onError: (error) => { problem.textContent = CL.errorText(error); problem.hidden = false; },
  });
  select.addEventListener("cl:searched", () => { problem.hidden = true; });
})();
