/* The content calendar (doctors/calendar_page.html): every post and account from the API
   (CL.pages follows `next`: none is left out), a new post POSTed once. Uses CL (careloop.js). */
const CONFIG = document.currentScript.dataset;
const CSRF = CONFIG.csrf;  // the simulate form posts itself
const API = CONFIG.api;
const T = {
  publish: CONFIG.tPublish,
  makeCode: CONFIG.tMakeCode,
  simulate: CONFIG.tSimulate,
  edit: CONFIG.tEdit,
};
const CAN_MAKE_CODES = CONFIG.canMakeCodes === "true";
const DEMO = CONFIG.demo === "true";
const problems = document.getElementById("post-problems");
function showProblems(error) {
  problems.textContent = CL.errorText(error);
  problems.classList.remove("d-none");
}
async function send(url, body, headers) {
  try {
    const data = await CL.api(url, {method: "POST", headers, body: body || {}});
    problems.classList.add("d-none");
    return data;
  } catch (error) {
    showProblems(error);
    return null;
  }
}
function button(label, testid, onClick) {
  const b = document.createElement("button");
  b.type = "button"; b.className = "btn btn-sm btn-outline-primary me-1"; b.textContent = label; b.dataset.testid = testid;
  b.addEventListener("click", onClick);
  return b;
}
async function loadPosts() {
  const [accounts, posts] = await Promise.all([CL.pages(CONFIG.accountsUrl), CL.pages(API)]);
  const select = document.getElementById("post-account");
  if (!select.options.length) select.replaceChildren(...accounts.map((a) => new Option(`${a.platform_label} · ${a.name}`, a.id)));
  document.getElementById("posts").replaceChildren(...posts.map((post) => {
    const tr = document.createElement("tr");
    tr.dataset.post = post.id;
    for (const text of [post.publish_date || "—", post.platform_label, post.topic, post.format_label, post.status_label]) {
      const td = document.createElement("td"); td.textContent = text; tr.append(td);
    }
    const code = document.createElement("td");
    code.textContent = post.code_state || "—";
    code.dataset.testid = "code-state";
    tr.append(code);
    const actions = document.createElement("td");
    const edit = document.createElement("a");
    edit.href = `${CONFIG.calendarUrl}${post.id}/`; edit.className = "btn btn-sm btn-outline-secondary me-1";
    edit.textContent = T.edit; edit.dataset.testid = "edit-post";
    actions.append(edit);
    if (post.status !== "published") actions.append(button(T.publish, "publish", async () => { if (await send(`${API}${post.id}/publish/`)) loadPosts(); }));
    else if (!post.channel_code && CAN_MAKE_CODES) actions.append(button(T.makeCode, "make-code", async () => { if (await send(`${API}${post.id}/channel-code/`)) loadPosts(); }));
    else if (post.channel_code && DEMO && CAN_MAKE_CODES) {
      const form = document.createElement("form");
      form.method = "post"; form.action = `${CONFIG.calendarUrl}${post.id}/simulate/`; form.className = "d-inline";
      form.innerHTML = `<input type="hidden" name="csrfmiddlewaretoken" value="${CSRF}">`;
      const b = button(T.simulate, "simulate", () => form.submit());
      form.append(b); actions.append(form);
    }
    tr.append(actions);
    return tr;
  }));
}
/* One post per filled form: the button waits for the answer, and the form's key makes the
   server create once even if the request is sent twice (a new key after each success). */
let postKey = crypto.randomUUID();
document.getElementById("post-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const submit = event.target.querySelector("[data-testid=add-post]");
  if (submit.disabled) return;
  submit.disabled = true;
  try {
    const body = Object.fromEntries(new FormData(event.target));
    for (const key of ["disease_tag", "publish_date", "cost"]) if (!body[key]) body[key] = null;
    if (await send(API, body, {"Idempotency-Key": postKey})) { postKey = crypto.randomUUID(); event.target.reset(); loadPosts(); }
  } finally {
    submit.disabled = false;
  }
});
loadPosts().catch(showProblems);
