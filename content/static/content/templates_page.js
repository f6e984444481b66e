/* The message templates page (content/templates_page.html). The preview is the API's: the text
   a real patient would receive, or the error naming the variable. The patient is found by
   searching the server as one types (CL.searchPicker; the search goes in the X-Search header,
   out of the URL): a clinic has too many patients for a list. Uses CL (careloop.js). */
(function () {
  "use strict";
  const search = document.getElementById("preview-patient-search");
  const select = document.getElementById("preview-patient");
  const problem = document.getElementById("preview-patient-error");
  const showProblem = (error) => { problem.textContent = error ? CL.errorText(error) : ""; problem.hidden = !error; };
  const ready = CL.searchPicker({
    input: search, select, url: select.dataset.url,
    headers: (text) => (text ? { "X-Search": encodeURIComponent(text) } : {}),
    option: (p) => CL.el("option", { value: p.id, text: p.name + (p.phone_masked ? " · " + p.phone_masked : "") }),
    onError: showProblem,
  });
  select.addEventListener("cl:searched", () => showProblem(null));
  document.querySelectorAll("[data-preview]").forEach((button) => {
    button.addEventListener("click", async () => {
      await ready;
      const out = button.closest(".border").querySelector(".cl-preview");
      const body = { patient: select.value ? Number(select.value) : null };
      const date = document.getElementById("preview-date").value;
      if (date) body.revisit_date = date;
      let text, failed = false;
      try {
        text = (await CL.api(button.dataset.preview, { method: "POST", body })).text;
      } catch (error) {
        text = CL.errorText(error);
        failed = true;
      }
      out.textContent = text;
      out.classList.remove("d-none");
      out.classList.toggle("text-danger", failed);
    });
  });
})();
