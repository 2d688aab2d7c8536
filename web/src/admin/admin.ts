// Script of the admin console's pages (both products). The pages work
// without it: it only submits the period menu as soon as it changes.
import "./admin.css";

for (const sel of document.querySelectorAll<HTMLSelectElement>("select[data-autosubmit]")) {
  sel.addEventListener("change", () => sel.form?.requestSubmit());
}
