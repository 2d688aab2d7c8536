// The ideas list: keyboard-first capture (Enter saves and the idea appears
// at once), delete with an Undo toast, and "/" to search. Without
// JavaScript the same forms post to the server.
import { call, describe, type Idea } from "./api";

interface Deleted {
  idea: Idea;
  undoToken: string;
  undoExpiresAt: string;
}

export function initList(): void {
  const list = document.querySelector<HTMLOListElement>("#idea-list");
  const capture = document.querySelector<HTMLFormElement>("#capture");
  if (!list || !capture) return;
  const input = capture.querySelector<HTMLInputElement>("#capture-input")!;
  const error = document.querySelector<HTMLElement>("#capture-error")!;
  const toast = document.querySelector<HTMLElement>("#undo-toast")!;
  const status = document.querySelector<HTMLElement>("#capture-status");
  let toastTimer: number | undefined;

  const showError = (msg: string) => {
    error.textContent = msg;
    error.hidden = msg === "";
    if (msg) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  };

  capture.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const line = input.value.trim();
    if (line === "") return;
    const words = line.split(/\s+/);
    const tags = words.filter((w) => w.length > 1 && w.startsWith("#")).map((w) => w.slice(1));
    let title = words.filter((w) => !(w.length > 1 && w.startsWith("#"))).join(" ");
    if (title === "") title = line;
    // Show it at once; the server's answer fills in the rest.
    const pending = item({ id: "", title, body: "", tags: title === line ? [] : tags, version: 1, createdAt: new Date().toISOString(), updatedAt: "" });
    pending.classList.add("is-pending");
    list.prepend(pending);
    document.querySelector("#empty-state")?.setAttribute("hidden", "");
    input.value = "";
    showError("");
    const res = await call<Idea>("POST", "/api/ideas", { title, tags: title === line ? [] : tags });
    if (res.data) {
      pending.replaceWith(item(res.data));
      if (status) status.textContent = `Saved “${res.data.title}”.`;
      return;
    }
    pending.remove();
    input.value = line;
    showError(describe(res.error!));
    input.focus();
  });

  list.addEventListener("submit", async (ev) => {
    const form = ev.target as HTMLFormElement;
    if (!form.classList.contains("idea-delete")) return;
    ev.preventDefault();
    const li = form.closest<HTMLLIElement>("li.idea")!;
    const next = li.nextElementSibling;
    const res = await call<Deleted>("DELETE", `/api/ideas/${li.dataset.id}`);
    if (!res.data) {
      alertToast(describe(res.error!));
      return;
    }
    li.remove();
    showUndo(res.data, li, next);
  });

  const hideToast = () => {
    toast.hidden = true;
    toast.replaceChildren();
  };

  const alertToast = (msg: string) => {
    toast.replaceChildren(text("span", msg));
    toast.hidden = false;
  };

  const showUndo = (d: Deleted, li: HTMLLIElement, next: Element | null) => {
    if (toastTimer !== undefined) clearTimeout(toastTimer);
    const btn = document.createElement("button");
    btn.type = "button";
    btn.className = "btn-secondary";
    btn.id = "undo-button";
    btn.textContent = "Undo";
    const more = document.createElement("a");
    more.href = "/ideas/deleted";
    more.textContent = "Recently deleted";
    toast.replaceChildren(text("span", `Deleted “${d.idea.title}”.`), btn, more);
    toast.hidden = false;
    btn.addEventListener("click", async () => {
      btn.disabled = true;
      const res = await call<Idea>("POST", "/api/ideas/undo", { token: d.undoToken });
      if (!res.data) {
        alertToast(res.error!.message);
        return;
      }
      const back = item(res.data);
      if (next && next.parentElement === list) list.insertBefore(back, next);
      else list.append(back);
      hideToast();
      back.querySelector("a")?.focus();
    });
    btn.focus();
    // The toast goes after a while; "Recently deleted" keeps the way back.
    toastTimer = window.setTimeout(hideToast, 20000);
  };

  addEventListener("keydown", (ev) => {
    const t = ev.target as HTMLElement;
    const typing = t.closest("input, textarea, select, [contenteditable]");
    if (ev.key === "/" && !typing) {
      ev.preventDefault();
      document.querySelector<HTMLInputElement>("#search-input")?.focus();
    } else if (ev.key === "Escape" && t === input) {
      input.value = "";
      showError("");
    } else if (ev.key === "Escape" && !toast.hidden) {
      hideToast();
    }
  });
}

function text(tag: string, s: string): HTMLElement {
  const el = document.createElement(tag);
  el.textContent = s;
  return el;
}

// item builds a list entry like the server's "idea-item" template.
function item(it: Idea): HTMLLIElement {
  const li = document.createElement("li");
  li.className = "idea card";
  li.dataset.id = it.id;
  if (it.id) li.id = `idea-${it.id}`;
  const h = document.createElement("h2");
  h.className = "idea-title";
  const a = document.createElement("a");
  a.href = it.id ? `/ideas/${it.id}` : "#";
  a.textContent = it.title;
  h.append(a);
  li.append(h);
  if (it.body) {
    const p = text("p", it.body.length > 180 ? it.body.slice(0, 180) + "…" : it.body);
    p.className = "idea-snippet";
    li.append(p);
  }
  const meta = document.createElement("div");
  meta.className = "idea-meta";
  for (const t of it.tags) {
    const ta = document.createElement("a");
    ta.className = "tag";
    ta.href = `/ideas?tag=${encodeURIComponent(t)}`;
    ta.textContent = `#${t}`;
    meta.append(ta);
  }
  const time = document.createElement("time");
  time.dateTime = it.createdAt;
  time.textContent = "just now";
  meta.append(time);
  if (it.id) {
    const form = document.createElement("form");
    form.method = "post";
    form.action = `/ideas/${it.id}/delete`;
    form.className = "idea-delete";
    const b = document.createElement("button");
    b.type = "submit";
    b.className = "btn-secondary btn-small";
    b.textContent = "Delete";
    b.setAttribute("aria-label", `Delete “${it.title}”`);
    form.append(b);
    meta.append(form);
  }
  li.append(meta);
  return li;
}
