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
      countTags(res.data.tags, 1);
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
    countTags(res.data.idea.tags, -1);
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
      countTags(res.data.tags, 1);
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

// countTags keeps the tag filter's counts true as ideas come and go on
// the page: delta for each of tags, a tag at zero leaves the filter, a
// new one joins it.
function countTags(tags: string[], delta: number): void {
  const filter = document.querySelector<HTMLUListElement>(".tag-filter");
  if (!filter) return;
  for (const tag of tags) {
    const link = [...filter.querySelectorAll<HTMLAnchorElement>("a.tag")].find((a) => a.dataset.tag === tag);
    if (!link) {
      if (delta <= 0) continue;
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.className = "tag";
      a.href = `/ideas?tag=${encodeURIComponent(tag)}`;
      a.dataset.tag = tag;
      a.append(`#${tag} `);
      const c = document.createElement("span");
      c.className = "count";
      a.append(c);
      li.append(a);
      filter.append(li);
      setCount(a, delta);
      continue;
    }
    const n = Number(link.querySelector(".count")?.textContent ?? "0") + delta;
    if (n <= 0) link.closest("li")?.remove();
    else setCount(link, n);
  }
}

function setCount(a: HTMLAnchorElement, n: number): void {
  const c = a.querySelector<HTMLElement>(".count")!;
  c.textContent = String(n);
  c.setAttribute("aria-label", `${n} idea${n === 1 ? "" : "s"}`);
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
  const ex = it.excerpt ?? it.body;
  if (ex) {
    const p = text("p", ex.length > 180 ? ex.slice(0, 180) + "…" : ex);
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
