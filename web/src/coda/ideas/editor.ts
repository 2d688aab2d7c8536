// The idea editor: autosave while typing (PATCH with the version it is
// based on), a sanitised Markdown preview rendered by the server, and the
// conflict view when someone else saved first. Without JavaScript the
// form posts and the server shows the same conflict view.
import { call, debounce, describe, splitTags, type Idea } from "./api";
import { conflictText, enableBoxes, tick } from "./tasks";

export function initEditor(): void {
  const form = document.querySelector<HTMLFormElement>("#editor");
  if (!form) return;
  const id = form.dataset.id!;
  const version = form.querySelector<HTMLInputElement>("#version")!;
  const title = form.querySelector<HTMLInputElement>("#title")!;
  const tags = form.querySelector<HTMLInputElement>("#tags")!;
  const body = form.querySelector<HTMLTextAreaElement>("#body")!;
  const preview = document.querySelector<HTMLElement>("#preview")!;
  const status = document.querySelector<HTMLElement>("#save-status")!;
  const conflict = document.querySelector<HTMLElement>("#conflict")!;
  let dirty = false;
  let saving = false;
  let inConflict = !conflict.hidden;

  const setError = (field: string, msg: string) => {
    const el = document.querySelector<HTMLElement>(`#${field}-error`);
    const input = document.querySelector<HTMLElement>(`#${field}`);
    if (!el || !input) return;
    el.textContent = msg;
    el.hidden = msg === "";
    if (msg) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", `${field}-error`);
    } else {
      input.removeAttribute("aria-invalid");
    }
  };

  const fill = (sel: string, s: string) => {
    const el = document.querySelector<HTMLElement>(sel);
    if (el) el.textContent = s;
  };

  const save = async () => {
    if (saving || inConflict) return;
    saving = true;
    dirty = false;
    status.textContent = "Saving…";
    const res = await call<Idea>("PATCH", `/api/ideas/${id}`, {
      version: Number(version.value),
      title: title.value,
      body: body.value,
      tags: splitTags(tags.value),
    });
    saving = false;
    for (const f of ["title", "body", "tags"]) setError(f, "");
    if (res.data) {
      version.value = String(res.data.version);
      status.textContent = `Saved at ${new Date().toLocaleTimeString()}.`;
      if (dirty) autosave();
      return;
    }
    dirty = true;
    if (res.status === 409 && res.raw?.current) {
      const cur = res.raw.current as Idea;
      inConflict = true;
      fill("#conflict-version", String(cur.version));
      fill("#conflict-saved-title", cur.title);
      fill("#conflict-saved-tags", cur.tags.join(", "));
      fill("#conflict-saved-body", cur.body);
      fill("#conflict-mine-title", title.value);
      fill("#conflict-mine-tags", tags.value);
      fill("#conflict-mine-body", body.value);
      conflict.dataset.version = String(cur.version);
      conflict.hidden = false;
      conflict.focus();
      status.textContent = "Not saved: this idea changed elsewhere.";
      return;
    }
    const err = res.error!;
    if (err.fields) {
      for (const [k, v] of Object.entries(err.fields)) setError(k, v);
    }
    status.textContent = `Not saved: ${describe(err)}`;
  };
  const autosave = debounce(save, 700);

  const renderPreview = debounce(async () => {
    const res = await call<{ html: string }>("POST", "/api/ideas/preview", { body: body.value });
    // The server sanitises the HTML (bluemonday) before sending it.
    if (res.data) {
      preview.innerHTML = res.data.html;
      enableBoxes(preview, 'input[type="checkbox"]');
    }
  }, 300);

  // A task ticked in the preview: unsaved edits go first, then the tick,
  // as an update of the version they produced.
  enableBoxes(preview, 'input[type="checkbox"]');
  preview.addEventListener("change", async (ev) => {
    const box = ev.target as HTMLInputElement;
    if (box.type !== "checkbox") return;
    const n = [...preview.querySelectorAll('input[type="checkbox"]')].indexOf(box);
    const done = box.checked;
    box.disabled = true;
    while (saving) await new Promise((r) => setTimeout(r, 50));
    if (dirty) {
      autosave.cancel();
      renderPreview.cancel();
      await save();
    }
    if (inConflict || dirty) {
      box.checked = !done;
      box.disabled = false;
      return;
    }
    const res = await tick(id, n, done, Number(version.value));
    box.disabled = false;
    if (res.data) {
      version.value = String(res.data.version);
      body.value = res.data.body;
      status.textContent = `Saved at ${new Date().toLocaleTimeString()}.`;
      return;
    }
    box.checked = !done;
    status.textContent = conflictText(res);
  });

  form.addEventListener("input", (ev) => {
    // A task ticked in the preview is saved on its own (below).
    if (preview.contains(ev.target as Node)) return;
    dirty = true;
    status.textContent = inConflict ? "Not saved: this idea changed elsewhere." : "Unsaved changes…";
    autosave();
    if (ev.target === body) renderPreview();
  });

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const submitter = (ev as SubmitEvent).submitter;
    if (submitter?.id === "keep-mine" || inConflict) {
      // Keep mine: save over the version that won, on purpose.
      version.value = conflict.dataset.version ?? version.value;
      inConflict = false;
      conflict.hidden = true;
    }
    autosave.cancel();
    void save();
  });

  addEventListener("keydown", (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "s") {
      ev.preventDefault();
      autosave.cancel();
      void save();
    }
  });

  addEventListener("beforeunload", (ev) => {
    if (dirty || saving) ev.preventDefault();
  });
}
