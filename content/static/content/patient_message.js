/* "Send a message" on the patient page (content/_patient_message.html): choose a template,
   see it as this patient will read it (the templates' preview), edit it, queue it once.
   The form carries a random token: a double click or a retried request is one message.
   Uses CL (careloop.js). */
(function () {
  "use strict";
  const form = document.getElementById("message-form");
  if (!form) return;
  const part = (name) => form.querySelector('[data-part="' + name + '"]');
  const labels = form.dataset;
  const select = form.elements.template;
  const text = form.elements.text;
  const revisit = form.elements.revisit_date;
  const article = form.elements.article;
  const send = form.querySelector("button[type=submit]");
  const templates = new Map();

  function newToken() {
    // getRandomValues works on plain http too (randomUUID needs a secure context).
    const bytes = new Uint8Array(18);
    crypto.getRandomValues(bytes);
    form.elements.token.value = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function outcome(message, kind) {
    const node = part("outcome");
    node.textContent = message;
    node.className = "alert alert-" + (kind || "success") + " small py-2 px-3 mt-2 mb-0";
    node.hidden = !message;
  }

  function hits(list) {
    const node = part("hits");
    node.hidden = !list.length;
    node.textContent = list.length
      ? labels.labelHits + " " + list.map((h) => "“" + h.phrase + "”（" + h.reason + "）").join("；")
      : "";
  }

  /* Only the latest preview is drawn: picking template A then B quickly must not leave A's
     slower answer in the box under B's name. */
  let latest = 0;
  let previewError = "";  // why the chosen template has no text for this patient yet
  async function preview() {
    const ticket = ++latest;
    previewError = "";
    outcome("");
    hits([]);
    const template = templates.get(Number(select.value));
    const needsDate = !!template && template.body.includes("{复诊日期}");
    part("revisit").hidden = !needsDate;
    if (!template) {
      text.value = "";
      return;
    }
    // {复诊日期} without a chosen date: the server takes the patient's next booked appointment
    // (or says there is none, and the date field is there to choose one).
    const body = { patient: Number(form.dataset.patient) };
    if (revisit.value && !part("revisit").hidden) body.revisit_date = revisit.value;
    try {
      const data = await CL.api(labels.templatesUrl + template.id + "/preview/", { method: "POST", body });
      if (ticket !== latest) return;
      text.value = data.text;
      hits(data.hits);
    } catch (error) {
      if (ticket !== latest) return;
      // The template as written, placeholders and all, to edit: the server composes it again
      // when it is sent and refuses it with the same reason if nothing changed.
      text.value = template.body;
      previewError = CL.errorText(error);
      outcome(previewError, "danger");
    }
  }

  function refreshTimeline() {
    // The outbox writes the timeline entry once WeCom accepts the message: look again a
    // few times (patient.js reloads the timeline on this event).
    for (const seconds of [2, 5, 15, 30]) {
      setTimeout(() => document.dispatchEvent(new Event("cl:timeline-changed")), seconds * 1000);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!select.value) {
      outcome(labels.labelChoose, "danger");
      return;
    }
    if (!text.value.trim() && previewError) {
      outcome(previewError, "danger");  // e.g. {复诊日期} needs a date: say that, not "empty"
      return;
    }
    send.disabled = true;
    const body = { template: Number(select.value), token: form.elements.token.value, text: text.value };
    if (revisit.value && !part("revisit").hidden) body.revisit_date = revisit.value;
    if (article.value) body.article = Number(article.value);
    try {
      const data = await CL.api(form.dataset.url, { method: "POST", body });
      outcome(data.created ? CL.fmt(labels.labelQueued, { sender: data.sender_name }) : labels.labelAgain);
      newToken(); // the next message is a new one
      select.value = "";
      article.value = "";
      text.value = "";
      part("revisit").hidden = true;
      refreshTimeline();
    } catch (error) {
      // Refused (nothing queued) or no answer: the token stays, so a retry cannot send twice.
      outcome(CL.errorText(error), "danger");
    } finally {
      send.disabled = false;
    }
  });
  select.addEventListener("change", preview);
  revisit.addEventListener("change", preview);

  async function load() {
    try {
      const [state, list, articles] = await Promise.all([
        CL.api(form.dataset.url),
        CL.pages(labels.templatesUrl),  // every template: CL.pages follows `next`
        CL.pages(labels.articlesUrl),
      ]);
      for (const a of articles) {
        article.append(CL.el("option", { value: a.id, text: a.title }));
      }
      part("loading").hidden = true;
      if (!state.can_send) {
        part("not-allowed").hidden = false;
        return;
      }
      if (state.blocked) {
        part("blocked").textContent = CL.fmt(labels.labelBlocked, { reason: state.blocked.label });
        part("blocked").hidden = false;
        send.disabled = true;
      }
      if (!list.length) {
        part("none").hidden = false;
        return;
      }
      for (const t of list) {
        templates.set(t.id, t);
        select.append(CL.el("option", { value: t.id, text: t.name }));
      }
      part("sender").textContent = state.sender_name
        ? CL.fmt(labels.labelSender, { sender: state.sender_name }) : "";
      part("controls").hidden = false;
      newToken();
    } catch (error) {
      part("loading").hidden = true;
      outcome(CL.errorText(error), "danger");
    }
  }
  load();
})();
