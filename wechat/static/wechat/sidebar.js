/* The chat sidebar (聊天工具栏): WeCom opens it beside a chat with a patient.
   wx.config and wx.agentConfig with the server's signatures (wechat/jssdk.py), then
   getCurExternalContact, then the patient's card from the existing patient API. */
(function () {
  "use strict";
  const root = document.getElementById("sidebar");
  const words = CL.labels(root);
  const status = document.getElementById("sidebar-status");
  const card = document.getElementById("sidebar-card");

  function fail(text) { CL.status(status, text, "danger"); }

  async function configure() {
    const url = location.href.split("#")[0];
    const c = await CL.api(CL.withParams(root.dataset.configUrl, { url }));
    await new Promise((resolve, reject) => {
      wx.config({ beta: true, debug: false, appId: c.corpid, timestamp: c.timestamp,
        nonceStr: c.nonceStr, signature: c.signature, jsApiList: ["sendChatMessage"] });
      wx.ready(() => wx.agentConfig({ corpid: c.corpid, agentid: c.agentid, timestamp: c.timestamp,
        nonceStr: c.nonceStr, signature: c.agentSignature,
        jsApiList: ["getCurExternalContact", "sendChatMessage"],
        success: resolve, fail: (res) => reject(new Error(words.sdkFailed + " " + (res && res.errMsg || ""))) }));
      wx.error((res) => reject(new Error(words.sdkFailed + " " + (res && res.errMsg || ""))));
    });
  }

  function currentContact() {
    return new Promise((resolve, reject) => {
      wx.invoke("getCurExternalContact", {}, (res) => {
        if (res && res.err_msg === "getCurExternalContact:ok") resolve(res.userId);
        else reject(new Error(words.noContact));
      });
    });
  }

  function show(patient) {
    card.replaceChildren(
      CL.el("h1", { class: "h5", "data-testid": "patient-name", text: patient.name }),
      CL.el("p", { class: "mb-1", "data-testid": "patient-phone", text: patient.phone_masked || "" }),
      CL.el("button", { type: "button", class: "btn btn-sm btn-outline-secondary me-2",
        "data-testid": "reveal-phone", text: words.reveal, onclick: () => reveal(patient) }),
      CL.el("a", { class: "btn btn-sm btn-outline-primary", href: root.dataset.patientUrl.replace("0", patient.id),
        text: words.openPatient }));
  }

  /* The patient API's audited reveal: the full number, or the refusal (audited too). */
  async function reveal(patient) {
    try {
      const answer = await CL.api(root.dataset.apiUrl.replace("0", patient.id) + "reveal-phone/", { method: "POST" });
      card.querySelector("[data-testid=patient-phone]").textContent = answer.phone;
    } catch (error) {
      fail(error.message);
    }
  }

  async function main() {
    try {
      await configure();
      const external = await currentContact();
      const found = await CL.api(CL.withParams(root.dataset.contactUrl, { external_userid: external }));
      if (!found.patient) {
        CL.status(status, words.notPatient, "info");
        return;
      }
      show(await CL.api(root.dataset.apiUrl.replace("0", found.patient)));
    } catch (error) {
      fail(error.message);
    }
  }
  main();
})();
