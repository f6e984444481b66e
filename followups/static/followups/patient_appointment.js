/* 预约复诊 on the patient page (followups/_patient_appointment.html): POST /api/appointments/,
   then reload (the stage and the timeline changed); lists the coming booked appointments.
   Uses CL (careloop.js). */
(function () {
  "use strict";
  const form = document.getElementById("appointment-form");
  if (!form) return;
  const d = form.dataset;
  const part = (name) => form.querySelector('[data-part="' + name + '"]');

  async function loadUpcoming() {
    const today = new Date(Date.now() + 8 * 3600 * 1000).toISOString().slice(0, 10);
    const q = new URLSearchParams({ patient: d.patient, status: "booked", date_from: today, page_size: 5 });
    try {
      const data = await CL.api(d.url + "?" + q);
      part("upcoming").replaceChildren(...data.results.map((a) =>
        CL.el("li", { "data-testid": "patient-appointment" },
          CL.when(a.start) + " · " + a.doctor_name + " · " + a.kind_display + " · " + a.status_display)));
    } catch (error) {
      part("error").textContent = CL.errorText(error);
      part("error").hidden = false;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    const data = new FormData(form);
    button.disabled = true;
    part("error").hidden = true;
    try {
      await CL.api(d.url, { method: "POST", body: {
        patient: Number(d.patient), doctor: Number(data.get("doctor")), start: data.get("start"),
        kind: data.get("kind"), notes: data.get("notes") } });
      location.reload();
    } catch (error) {
      part("error").textContent = CL.errorText(error);
      part("error").hidden = false;
      button.disabled = false;
    }
  });
  loadUpcoming();
})();
