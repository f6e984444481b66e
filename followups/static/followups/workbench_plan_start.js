/* The workbench's "start a care plan" bulk action: one POST to /api/care-plans/bulk/ for the
   selected patients (the workbench keeps their ids in the bulk bar's data-selected), then the
   result in the page's status line and a "cl:changed" event so the list reloads. */
(function () {
  "use strict";
  const box = document.getElementById("bulk-plan");
  if (!box) return;
  const d = box.dataset;
  const bar = document.getElementById("bulk");
  const statusLine = document.getElementById("status");
  const select = document.getElementById("b-plan");
  const day = document.getElementById("b-plan-day");
  const button = document.getElementById("b-plan-start");

  async function loadTemplates() {
    // Only active templates with steps, from every page of the list (CL.pages follows `next`).
    const active = (await CL.pages(d.templatesUrl)).filter((t) => t.is_active && t.version);
    select.append(...active.map((t) => CL.el("option", { value: t.id, text: t.name })));
    box.hidden = active.length === 0;
  }

  button.addEventListener("click", async () => {
    const ids = (bar.dataset.selected || "").split(",").filter(Boolean).map(Number);
    if (!select.value) {
      CL.status(statusLine, d.labelChoose, "danger");
      select.focus();
      return;
    }
    button.disabled = true;
    try {
      const body = { template: Number(select.value), patients: ids };
      if (day.value) body.anchor_date = day.value;
      const result = await CL.api(d.url, { method: "POST", body });
      CL.status(statusLine, CL.fmt(d.labelStarted, result), "success");
      document.dispatchEvent(new Event("cl:changed"));
    } catch (error) {
      // The selection stays as it was: fix the choice and try again.
      CL.status(statusLine, CL.errorText(error), "danger");
    } finally {
      button.disabled = false;
    }
  });

  loadTemplates().catch((error) => CL.status(statusLine, CL.errorText(error), "danger"));
})();
