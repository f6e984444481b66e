  const CONFIG = document.currentScript.dataset;
  // The preview is the API's: the text a real patient would receive, or the error naming the variable.
  document.querySelectorAll("[data-preview]").forEach((button) => {
    button.addEventListener("click", async () => {
      const out = button.closest(".border").querySelector(".cl-preview");
      const body = {patient: document.getElementById("preview-patient").value};
      const date = document.getElementById("preview-date").value;
      if (date) body.revisit_date = date;
      const response = await fetch(button.dataset.preview, {
        method: "POST",
        headers: {"Content-Type": "application/json", "X-CSRFToken": CONFIG.csrf},
        body: JSON.stringify(body),
      });
      const data = await response.json();
      out.classList.remove("d-none", "text-danger");
      if (response.ok) {
        out.textContent = data.text;
      } else {
        out.classList.add("text-danger");
        out.textContent = Object.values(data.errors || {}).flat().join(" ") || data.message;
      }
    });
  });
