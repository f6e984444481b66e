/* The patient page's follow-ups panel (followups/_patient_followups.html): the patient's open
   tasks and active plans from the API, and "start a plan" POSTed to /api/care-plans/.
   Uses CL (careloop.js). */
(function () {
  "use strict";
  const panel = document.getElementById("followups");
  if (!panel) return;
  const part = (name) => panel.querySelector('[data-part="' + name + '"]');
  const d = panel.dataset;
  const patient = d.patient;
  const SHOWN = 20;

  function message(name, text) {
    part(name).textContent = text;
    part(name).hidden = !text;
  }

  function task(t) {
    const who = t.assignee_name || CL.fmt(d.labelPool, { role: t.role_display });
    // Checklist items are ticked on the nurse's checklist; everything else in the queue.
    const where = t.action === "checklist"
      ? CL.el("a", { href: d.checklistUrl, text: d.labelChecklist })
      : CL.el("a", { href: d.queueUrl, text: d.labelQueue });
    return CL.el("li", { class: "border-bottom py-1", "data-testid": "followup-task",
      "data-overdue": String(t.is_overdue) }, [
      CL.el("div", { class: "d-flex justify-content-between gap-2" }, [
        CL.el("span", { class: "fw-semibold", text: t.title }),
        t.is_overdue ? CL.el("span", { class: "badge text-bg-danger align-self-start", text: d.labelOverdue }) : null,
      ]),
      CL.el("div", { class: "text-secondary" }, [
        d.labelDue + " " + CL.when(t.due_at) + " · " + who +
          (t.plan_name ? " · " + t.plan_name : "") + " · ",
        where,
      ]),
      callBlock(t),
    ]);
  }

  /* 拨打 for a call-type task: followups/call.js does the rest (audited, this call only). */
  function callBlock(t) {
    if (!d.canCall || t.action === "checklist" || !d.phoneMasked) return null;
    return CL.el("div", { class: "d-flex align-items-center gap-2 mt-1",
      "data-call": d.callUrl.replace("/0/", "/" + t.id + "/"), "data-label-dial": d.labelDial }, [
      CL.el("button", { type: "button", class: "btn btn-sm btn-outline-primary",
        "data-part": "call", "data-testid": "call", text: d.labelCall }),
      CL.el("span", { class: "font-monospace text-secondary", "data-part": "masked", text: d.phoneMasked }),
    ]);
  }

  function plan(p) {
    return CL.el("li", { class: "d-flex justify-content-between gap-2 py-1", "data-testid": "care-plan" }, [
      CL.el("span", {}, [
        CL.el("span", { class: "fw-semibold", text: p.template_name }),
        CL.el("span", { class: "text-secondary", text: " · " + CL.fmt(d.labelPlanSince, { date: p.anchor_date }) }),
      ]),
      CL.el("span", { class: "badge text-bg-light border align-self-start", text: d.labelPlanStatus }),
    ]);
  }

  async function loadTasks() {
    const q = new URLSearchParams({ patient, status: "open", page_size: SHOWN });
    const data = await CL.api(d.tasksUrl + "?" + q);
    part("tasks").replaceChildren(...data.results.map(task));
    part("empty").hidden = data.count > 0;
    message("more", data.count > SHOWN ? CL.fmt(d.labelMore, { n: data.count - SHOWN }) : "");
  }

  async function loadPlans() {
    const q = new URLSearchParams({ patient, status: "active", page_size: SHOWN });
    const data = await CL.api(d.plansUrl + "?" + q);
    part("plans").replaceChildren(...data.results.map(plan));
    part("no-plans").hidden = data.count > 0;
  }

  async function load() {
    try {
      await Promise.all([loadTasks(), loadPlans()]);
    } catch (e) {
      message("error", CL.errorText(e));
    } finally {
      part("loading").hidden = true;
    }
  }

  const form = part("start");
  async function loadTemplates() {
    // Only active templates ("published" SOPs), from every page of the list (CL.pages follows `next`).
    const active = (await CL.pages(d.templatesUrl)).filter((t) => t.is_active && t.version);
    const select = form.elements.template;
    select.append(...active.map((t) => CL.el("option", { value: t.id, text: t.name })));
    // Nothing to start from: say why, and keep the button from sending an empty choice.
    part("no-template").hidden = active.length > 0;
    form.querySelector("button[type=submit]").disabled = !active.length;
  }

  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      const select = form.elements.template;
      button.disabled = true;
      message("done", "");
      message("error", "");
      try {
        const started = await CL.api(d.plansUrl, { method: "POST", body: {
          patient: Number(patient),
          template: select.value ? Number(select.value) : null,
          anchor_date: form.elements.anchor_date.value || null,
        } });
        message("done", CL.fmt(d.labelStarted, { plan: started.template_name, date: started.anchor_date }));
        select.value = "";
        await load();
        // The plan start wrote its timeline entry: the patient page shows it.
        document.dispatchEvent(new Event("cl:timeline-changed"));
      } catch (e) {
        message("error", CL.errorText(e));
      } finally {
        button.disabled = false;
      }
    });
    loadTemplates().catch((e) => message("error", CL.errorText(e)));
  }
  load();
})();
