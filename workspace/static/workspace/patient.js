/* The patient page: timeline from /api/patients/<id>/timeline/ (cursor pages), and the
   quick actions, each one POST to the patient's API. */
(function () {
  "use strict";
  const cfg = CL.config();
  const L = cfg.labels;
  const base = "/api/patients/" + cfg.patient + "/";
  const statusLine = document.getElementById("status");
  const list = document.getElementById("timeline");
  const more = document.getElementById("more");
  const kind = document.getElementById("t-kind");
  let next = null;

  function entry(t) {
    return CL.el("li", { "data-kind": t.kind }, [
      CL.el("div", { class: "cl-kind", text: t.kind_display }),
      CL.el("div", { text: t.summary }),
      CL.el("div", { class: "cl-meta", text: CL.when(t.occurred_at) + (t.actor_name ? " · " + t.actor_name : "") }),
    ]);
  }

  async function loadTimeline(url) {
    const first = !url;
    if (first) {
      const q = new URLSearchParams();
      if (kind.value) q.set("kind", kind.value);
      url = base + "timeline/" + (q.toString() ? "?" + q : "");
    }
    try {
      const data = await CL.api(url);
      const items = data.results.map(entry);
      if (first) list.replaceChildren(...(items.length ? items : [CL.el("li", { class: "text-secondary", text: L.noTimeline })]));
      else list.append(...items);
      next = data.next;
      more.hidden = !next;
      more.textContent = L.more;
    } catch (error) {
      CL.status(statusLine, CL.errorText(error), "danger");
    }
  }

  function onSubmit(id, handler) {
    const form = document.getElementById(id);
    if (!form) return; // not offered to this role (the API refuses it too)
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        const reload = await handler(new FormData(form), form);
        CL.fieldErrors(form, null);
        CL.status(statusLine, L.saved, "success");
        if (reload) location.reload();
        else {
          form.reset();
          form.querySelectorAll("textarea[data-limit]").forEach((a) => a.dispatchEvent(new Event("cl:reset")));
          loadTimeline();
        }
      } catch (error) {
        CL.fieldErrors(form, error);
        CL.status(statusLine, CL.errorText(error), "danger");
      } finally {
        button.disabled = false;
      }
    });
  }

  onSubmit("call-form", (data) => CL.api(base + "timeline/", { method: "POST", body: {
    kind: "call", channel: "phone", outcome: data.get("outcome"), summary: data.get("summary") } }));
  onSubmit("note-form", (data) => CL.api(base + "timeline/", { method: "POST", body: {
    kind: "note", channel: data.get("channel"), summary: data.get("summary") } }));
  onSubmit("stage-form", async (data) => {
    await CL.api(base + "stage/", { method: "POST", body: { stage: data.get("stage"), reason: data.get("reason") } });
    return true;
  });
  onSubmit("visit-form", async (data) => {
    const body = { visit_date: data.get("visit_date"), kind: data.get("kind") };
    if (data.get("doctor")) body.doctor = Number(data.get("doctor"));
    if (data.get("amount")) body.amount = data.get("amount");
    await CL.api(base + "visits/", { method: "POST", body });
    return true;
  });
  /* Tags: the form shows the wanted set; send what to add and what to remove. */
  const current = new Set(cfg.currentTags);
  onSubmit("tags-form", async (data, form) => {
    const wanted = new Set([...form.querySelectorAll("input:checked")].map((i) => Number(i.value)).filter(Boolean));
    const add = [...wanted].filter((id) => !current.has(id));
    const remove = [...current].filter((id) => !wanted.has(id));
    const patient = await CL.api(base + "tags/", { method: "POST", body: { add, remove } });
    current.clear();
    patient.tags.forEach((t) => current.add(t.id));
    return false;
  });
  /* form.reset() would undo the saved tag choice; keep the boxes as saved. */
  document.getElementById("tags-form").addEventListener("reset", (event) => event.preventDefault());

  const reveal = document.getElementById("reveal");
  if (reveal) {
    reveal.addEventListener("click", async () => {
      try {
        const data = await CL.api(base + "reveal-phone/", { method: "POST" });
        document.getElementById("phone").textContent = data.phone.replace(/^\+86/, "");
        reveal.remove();
      } catch (error) {
        CL.status(statusLine, CL.errorText(error), "danger");
      }
    });
  }
  kind.addEventListener("change", () => loadTimeline());
  // Panels of other apps on this page (follow-ups, the message form) say when the timeline
  // may have new entries.
  document.addEventListener("cl:timeline-changed", () => loadTimeline());
  more.addEventListener("click", () => next && loadTimeline(next));
  loadTimeline();
})();
