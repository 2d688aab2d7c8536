// The chat page: send a message, follow the streamed answer (SSE), stop
// it, regenerate the last one, copy answers and code, and keep following
// an answer in progress after a reload. Answers arrive as plain text; the
// server sends the sanitised Markdown HTML (code highlighted) when one is
// done.
//
// What the coach knows (coach.go): Attach uploads a CV or job description
// to the conversation with progress, as a chip with its type, size and a
// remove button; an answer that proposes a fact gets a "Remember this?"
// card (Keep, Edit, Dismiss). Both enhance forms that work without script.
//
// Scrolling: the messages scroll inside their own pane and the composer
// stays pinned below it. While the reader is at the bottom the pane
// follows the answer; once they scroll up it stays put and offers "Jump to
// latest".

import { copyText, flash } from "../shared/copy";

interface MessageJSON {
  id: string;
  role: string;
  content: string;
  status: string;
  error?: string;
  html?: string;
  memory_proposal?: MemoryJSON;
}

interface MemoryJSON {
  id: string;
  text: string;
  status: string;
}

interface DocumentJSON {
  id: string;
  name: string;
  kind: string;
  size: number;
}

// kinds names the kinds of document for people (as coach.go does).
const kinds: Record<string, string> = { pdf: "PDF", docx: "Word", markdown: "Markdown", text: "Text" };

// byteSize writes n bytes for people, as the server does.
const byteSize = (n: number): string =>
  n < 1000 ? `${n} B` : n < 1e6 ? `${Math.round(n / 1000)} KB` : `${(n / 1e6).toFixed(1)} MB`;

// el makes an element with a class and text.
function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = "", text = ""): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

// errorOf reads the message of a JSON error answer.
async function errorOf(res: Response): Promise<string> {
  const data = await res.json().catch(() => ({}));
  return data?.error?.message ?? "Something went wrong. Please try again.";
}

interface Sent {
  user_message?: MessageJSON;
  answer: MessageJSON;
  quota: { limit: number; remaining: number };
  stream_url: string;
}

// nearBottom is how close (px) to the end counts as "at the bottom".
const nearBottom = 48;

export function initChat(): void {
  const chat = document.getElementById("chat");
  if (!chat) return;
  const api = chat.dataset.api!;
  const base = chat.dataset.base ?? "";
  const conv = chat.dataset.conversation!;
  const scroller = document.getElementById("scroller") as HTMLDivElement;
  const list = document.getElementById("messages") as HTMLOListElement;
  const jump = document.getElementById("jump-latest") as HTMLButtonElement;
  const form = document.getElementById("composer") as HTMLFormElement | null;
  const input = document.getElementById("content") as HTMLTextAreaElement | null;
  const send = document.getElementById("send") as HTMLButtonElement | null;
  const stop = document.getElementById("stop") as HTMLButtonElement | null;
  const errorBox = document.getElementById("composer-error") as HTMLParagraphElement | null;
  // The answer being followed: close stops following it.
  let current: { id: string; close: () => void } | null = null;

  // Follow the bottom only while the reader is there: where they are is
  // read just before the answer grows, so a scroll up wins at once (scroll
  // events may come a frame late).
  const atBottom = () => scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight <= nearBottom;
  const toBottom = () => {
    scroller.scrollTop = scroller.scrollHeight;
  };
  scroller.addEventListener(
    "scroll",
    () => {
      if (atBottom()) jump.hidden = true;
    },
    { passive: true },
  );
  // grow changes the answer, then keeps the reader at the bottom if they
  // were there, or offers the way down.
  const grow = (change: () => void) => {
    const stick = atBottom();
    change();
    if (stick) toBottom();
    else if (current) jump.hidden = false;
  };
  jump.addEventListener("click", () => {
    jump.hidden = true;
    toBottom();
    input?.focus({ preventScroll: true });
  });
  toBottom();

  const showError = (msg: string) => {
    if (!errorBox) return;
    errorBox.textContent = msg;
    errorBox.hidden = msg === "";
  };
  const busy = (on: boolean) => {
    if (send) send.hidden = on;
    if (stop) stop.hidden = !on;
    const regen = document.getElementById("regenerate") as HTMLButtonElement | null;
    if (regen) regen.disabled = on;
  };

  // actions gives an answer its row of buttons: Copy, and Regenerate on the last.
  const actions = (li: HTMLLIElement) => {
    let row = li.querySelector<HTMLDivElement>(".msg-actions");
    if (!row) {
      row = document.createElement("div");
      row.className = "msg-actions";
      const copy = document.createElement("button");
      copy.type = "button";
      copy.className = "btn-ghost copy-answer";
      copy.textContent = "Copy";
      row.append(copy);
      li.append(row);
    }
    let regen = document.getElementById("regenerate");
    if (!regen) {
      regen = document.createElement("button");
      (regen as HTMLButtonElement).type = "button";
      regen.className = "btn-ghost";
      regen.id = "regenerate";
      regen.textContent = "Regenerate";
    }
    row.append(regen);
  };

  const bubble = (m: MessageJSON): HTMLLIElement => {
    const li = document.createElement("li");
    li.className = "msg msg-" + m.role;
    li.id = "m-" + m.id;
    li.dataset.id = m.id;
    li.dataset.status = m.status;
    const body = document.createElement("div");
    body.className = "msg-body";
    const p = document.createElement("p");
    p.className = "msg-text";
    p.textContent = m.content;
    body.append(p);
    li.append(body);
    list.querySelector(".msg-welcome")?.remove();
    list.append(li);
    if (m.role === "assistant") actions(li);
    return li;
  };

  const note = (li: HTMLLIElement, m: MessageJSON) => {
    li.querySelector(".msg-note")?.remove();
    let text = "";
    if (m.status === "stopped") text = "Stopped: the answer is incomplete.";
    else if (m.status === "interrupted") text = `Interrupted: ${m.error ?? ""} The answer is incomplete.`;
    else if (m.status === "failed") text = m.error ?? "The coach could not answer.";
    if (text) {
      const p = document.createElement("p");
      p.className = "msg-note";
      p.textContent = text;
      if (m.status !== "failed") {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "btn-secondary continue";
        b.textContent = "Continue";
        p.append(" ", b);
      }
      li.querySelector(".msg-body")!.after(p);
    }
  };

  // answerView shows answer id growing: the text so far (snapshot), each
  // new piece (delta) and the final message (done).
  const answerView = (id: string) => {
    const li = (document.getElementById("m-" + id) as HTMLLIElement) ?? bubble({ id, role: "assistant", content: "", status: "streaming" });
    let text = li.querySelector(".msg-text") as HTMLParagraphElement | null;
    if (!text) {
      text = document.createElement("p");
      text.className = "msg-text";
      li.querySelector(".msg-body")!.replaceChildren(text);
    }
    li.dataset.status = "streaming";
    li.setAttribute("aria-busy", "true");
    busy(true);
    return {
      snapshot: (t: string) => grow(() => (text!.textContent = t)),
      delta: (t: string) => grow(() => (text!.textContent += t)),
      done: (m: MessageJSON) => {
        grow(() => {
          li.dataset.status = m.status;
          li.removeAttribute("aria-busy");
          const body = li.querySelector(".msg-body") as HTMLDivElement;
          // The server renders Markdown and sanitises it (no script, no raw HTML).
          body.innerHTML = m.html ?? "";
          codeButtons(body);
          note(li, m);
          const p = m.memory_proposal;
          if (p && p.status === "proposed" && !li.querySelector(".memory-card")) li.append(memoryCard(p));
        });
        current = null;
        busy(false);
      },
    };
  };

  // followAnswer follows answer id at its GET stream url (EventSource
  // reconnects by itself).
  const followAnswer = (id: string, url: string) => {
    const view = answerView(id);
    const es = new EventSource(url);
    current = { id, close: () => es.close() };
    es.addEventListener("snapshot", (e) => view.snapshot(JSON.parse((e as MessageEvent).data).text));
    es.addEventListener("delta", (e) => view.delta(JSON.parse((e as MessageEvent).data).text));
    es.addEventListener("reset", () => {
      // Fell behind: reconnect for a fresh snapshot.
      es.close();
      followAnswer(id, url);
    });
    es.addEventListener("done", (e) => {
      es.close();
      view.done(JSON.parse((e as MessageEvent).data) as MessageJSON);
    });
  };

  // sendAndStream posts a message (or a regeneration) asking for the
  // answer's events in the response, so the answer starts without a second
  // request. onSent runs when the turn is stored (the "sent" event, or the
  // JSON of a server that answers JSON). A connection that drops after it
  // falls back to the GET stream. false: nothing was sent (the error is shown).
  const sendAndStream = async (url: string, body: unknown, onSent: (sent: Sent) => void): Promise<boolean> => {
    let res: Response;
    try {
      res = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      showError("Could not reach the server. Check your connection and try again.");
      return false;
    }
    if (!res.ok) {
      showError(await errorOf(res));
      return false;
    }
    showError("");
    if (!(res.headers.get("Content-Type") ?? "").startsWith("text/event-stream") || !res.body) {
      const sent = (await res.json().catch(() => null)) as Sent | null;
      if (!sent) return false;
      onSent(sent);
      followAnswer(sent.answer.id, sent.stream_url);
      return true;
    }
    let sent: Sent | null = null;
    let view: ReturnType<typeof answerView> | null = null;
    let finished = false;
    const ctl = new AbortController();
    const handle = (event: string, data: string) => {
      const v = JSON.parse(data);
      if (event === "sent") {
        sent = v as Sent;
        onSent(sent);
        view = answerView(sent.answer.id);
        current = { id: sent.answer.id, close: () => ctl.abort() };
      } else if (!view) {
        return;
      } else if (event === "snapshot") view.snapshot(v.text);
      else if (event === "delta") view.delta(v.text);
      else if (event === "done") {
        finished = true;
        view.done(v as MessageJSON);
      }
    };
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    ctl.signal.addEventListener("abort", () => void reader.cancel().catch(() => {}));
    let buf = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let end: number;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let event = "message";
          const data: string[] = [];
          for (const line of block.split("\n")) {
            if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data.push(line.slice(6));
          }
          if (data.length) handle(event, data.join("\n"));
        }
      }
    } catch {
      // The connection dropped: the GET stream below picks the answer up.
    }
    if (finished || ctl.signal.aborted) return true;
    const s = sent as Sent | null;
    if (!s) {
      showError("Could not reach the server. Check your connection and try again.");
      return false;
    }
    // Dropped part-way through: follow the rest (and reconnect) at the GET stream.
    followAnswer(s.answer.id, s.stream_url);
    return true;
  };

  const post = async (url: string, body?: unknown): Promise<Sent | null> => {
    let res: Response;
    try {
      res = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      showError("Could not reach the server. Check your connection and try again.");
      return null;
    }
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      showError(data?.error?.message ?? "Something went wrong. Please try again.");
      return null;
    }
    showError("");
    return data as Sent;
  };

  const quota = (q: Sent["quota"]) => {
    document.querySelectorAll("#quota-remaining").forEach((el) => (el.textContent = String(q.remaining)));
  };

  const start = (sent: Sent) => {
    if (sent.user_message) bubble(sent.user_message);
    bubble(sent.answer);
    quota(sent.quota);
    // Sending is a wish to see the answer: follow it.
    jump.hidden = true;
    toBottom();
  };

  form?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const content = input!.value.trim();
    if (!content || current) return;
    if (uploading > 0) {
      showError("Wait until the file has uploaded, then send.");
      return;
    }
    busy(true);
    const ok = await sendAndStream(`${api}/conversations/${conv}/messages`, { content }, (sent) => {
      input!.value = "";
      start(sent);
    });
    if (!ok) busy(false);
  });

  input?.addEventListener("keydown", (e) => {
    // Enter sends, Shift+Enter adds a line (and IME composition is left alone).
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form!.requestSubmit();
    }
  });

  stop?.addEventListener("click", () => {
    if (current) void post(`${api}/messages/${current.id}/stop`);
  });

  list.addEventListener("click", async (e) => {
    const target = e.target as HTMLElement;
    const button = target.closest("button");
    if (!button) return;
    if (button.matches("button.continue") && !current && input && form) {
      input.value = "Please continue where you left off.";
      form.requestSubmit();
    } else if (button.id === "regenerate" && !current) {
      busy(true);
      const old = button.closest("li");
      const ok = await sendAndStream(`${api}/conversations/${conv}/regenerate`, undefined, (sent) => {
        old?.remove();
        start(sent);
      });
      if (!ok) busy(false);
    } else if (button.matches(".copy-answer")) {
      const body = button.closest("li")!.querySelector<HTMLElement>(".msg-body")!;
      // innerText is what the reader sees; code buttons draw their labels
      // with CSS, so their text is not copied.
      if (await copyText(body.innerText.trim())) flash(button, "Copied");
    } else if (button.matches(".copy-code")) {
      const code = button.closest(".code-wrap")!.querySelector("code")!;
      if (await copyText(code.textContent ?? "")) {
        button.dataset.copied = "";
        setTimeout(() => delete button.dataset.copied, 2000);
      }
    }
  });

  codeButtons(list);

  // memoryCard builds the card the server renders under an answer that
  // proposes a fact (chat.html, "memory-card").
  const memoryCard = (m: MemoryJSON): HTMLFormElement => {
    const form = el("form", "memory-card");
    form.method = "post";
    form.action = `${base}/memories/${m.id}?conversation=${encodeURIComponent(conv)}`;
    form.dataset.memory = m.id;
    const fs = el("fieldset");
    const label = el("label", "memory-card-label", "Fact to remember");
    label.htmlFor = "mc-" + m.id;
    const inp = el("input", "memory-card-input");
    Object.assign(inp, { id: "mc-" + m.id, name: "text", value: m.text, maxLength: 500, required: true });
    const row = el("div", "memory-card-actions");
    const button = (text: string, cls: string, action?: string) => {
      const b = el("button", cls, text);
      b.type = action ? "submit" : "button";
      if (action) {
        b.name = "action";
        b.value = action;
      }
      return b;
    };
    const dismiss = button("Dismiss", "btn-ghost memory-dismiss", "delete");
    dismiss.formNoValidate = true;
    row.append(button("Keep", "btn-secondary memory-keep", "keep"), button("Edit", "btn-ghost memory-edit"), dismiss);
    const err = el("p", "field-error memory-card-error");
    err.setAttribute("role", "alert");
    err.hidden = true;
    fs.append(el("legend", "", "Remember this?"), el("p", "memory-card-text", m.text), label, inp, row, err);
    form.append(fs);
    return form;
  };

  // A card's Keep accepts the fact (with the member's edit), Dismiss
  // deletes the proposal: either way it does not come back on reload.
  list.addEventListener("submit", async (e) => {
    const form = (e.target as HTMLElement).closest<HTMLFormElement>(".memory-card");
    if (!form) return;
    e.preventDefault();
    const keep = (e as SubmitEvent).submitter?.matches(".memory-dismiss") !== true;
    const inp = form.querySelector<HTMLInputElement>(".memory-card-input")!;
    const err = form.querySelector<HTMLParagraphElement>(".memory-card-error")!;
    const text = inp.value.trim();
    let res: Response;
    try {
      res = await fetch(`${api}/memories/${form.dataset.memory}`, {
        method: keep ? "PATCH" : "DELETE",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: keep ? JSON.stringify({ text, keep: true }) : undefined,
      });
    } catch {
      err.textContent = "Could not reach the server. Check your connection and try again.";
      err.hidden = false;
      return;
    }
    if (!res.ok && !(res.status === 404 && !keep)) {
      err.textContent = await errorOf(res);
      err.hidden = false;
      return;
    }
    const done = el("p", "memory-card-done", keep ? `Remembered: “${text}”. ` : "Dismissed: nothing was remembered.");
    done.tabIndex = -1;
    done.setAttribute("role", "status");
    if (keep) {
      const a = el("a", "", "See what the coach knows about you");
      a.href = `${base}/profile`;
      done.append(a);
    }
    form.replaceWith(done);
    done.focus({ preventScroll: true });
  });

  list.addEventListener("click", (e) => {
    const edit = (e.target as HTMLElement).closest(".memory-edit");
    const form = edit?.closest<HTMLFormElement>(".memory-card");
    if (!form) return;
    form.dataset.editing = "";
    const inp = form.querySelector<HTMLInputElement>(".memory-card-input")!;
    inp.focus();
    inp.select();
  });
  list.addEventListener("keydown", (e) => {
    const form = (e.target as HTMLElement).closest<HTMLFormElement>(".memory-card[data-editing]");
    if (!form || e.key !== "Escape") return;
    const inp = form.querySelector<HTMLInputElement>(".memory-card-input")!;
    inp.value = form.querySelector(".memory-card-text")!.textContent ?? "";
    delete form.dataset.editing;
    form.querySelector<HTMLButtonElement>(".memory-edit")!.focus();
  });

  // Attachments: Attach opens the file picker; each file is uploaded at
  // once, shown as a chip with its progress, then as a download with its
  // type, size and a remove button.
  const chips = document.getElementById("attachments") as HTMLUListElement | null;
  const picker = document.getElementById("attach-file") as HTMLInputElement | null;
  const attach = document.getElementById("attach") as HTMLButtonElement | null;
  let uploading = 0;

  const chip = (li: HTMLLIElement, d: DocumentJSON) => {
    li.dataset.id = d.id;
    const a = el("a", "attachment-name", d.name);
    a.href = `${api}/documents/${d.id}/file`;
    a.download = "";
    const form = el("form", "attachment-remove-form");
    form.method = "post";
    form.action = `${base}/documents/${d.id}/delete?conversation=${encodeURIComponent(conv)}`;
    const x = el("button", "btn-ghost attachment-remove", "×");
    x.type = "submit";
    x.setAttribute("aria-label", "Remove " + d.name);
    form.append(x);
    li.replaceChildren(a, " ", el("span", "attachment-meta", `${kinds[d.kind] ?? d.kind} · ${byteSize(d.size)}`), form);
  };

  const upload = (file: File) => {
    const li = el("li", "attachment");
    const bar = el("progress");
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute("aria-label", "Uploading " + file.name);
    const cancel = el("button", "btn-ghost attachment-remove", "×");
    cancel.type = "button";
    cancel.setAttribute("aria-label", "Cancel uploading " + file.name);
    li.append(el("span", "attachment-name", file.name), " ", el("span", "attachment-meta", byteSize(file.size)), bar, cancel);
    chips!.append(li);
    uploading++;
    showError("");
    const xhr = new XMLHttpRequest();
    // end settles the upload: a message (or a cancel) takes the chip away.
    const end = (msg: string, gone = msg !== "") => {
      uploading--;
      if (gone) li.remove();
      if (msg) showError(msg);
    };
    cancel.addEventListener("click", () => {
      xhr.abort();
      attach?.focus();
    });
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
    });
    xhr.addEventListener("load", () => {
      let data: { document?: DocumentJSON; error?: { message?: string } } = {};
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON: a proxy's page */
      }
      if (xhr.status === 201 && data.document) {
        chip(li, data.document);
        end("");
      } else end(data.error?.message ?? "The file could not be attached. Please try again.");
    });
    xhr.addEventListener("error", () => end("Could not reach the server. Check your connection and try again."));
    xhr.addEventListener("abort", () => end("", true));
    xhr.open("POST", `${api}/documents?conversation=${encodeURIComponent(conv)}`);
    xhr.setRequestHeader("Accept", "application/json");
    const body = new FormData();
    body.append("file", file);
    xhr.send(body);
  };

  attach?.addEventListener("click", () => picker?.click());
  picker?.addEventListener("change", () => {
    for (const f of Array.from(picker.files ?? [])) upload(f);
    picker.value = "";
  });
  chips?.addEventListener("submit", async (e) => {
    const form = e.target as HTMLFormElement;
    const li = form.closest<HTMLLIElement>(".attachment");
    if (!li?.dataset.id) return;
    e.preventDefault();
    let res: Response;
    try {
      res = await fetch(`${api}/documents/${li.dataset.id}`, { method: "DELETE", headers: { Accept: "application/json" } });
    } catch {
      showError("Could not reach the server. Check your connection and try again.");
      return;
    }
    if (!res.ok && res.status !== 404) {
      showError(await errorOf(res));
      return;
    }
    showError("");
    li.remove();
    (attach ?? input)?.focus();
  });

  // A reload during an answer: the page shows the text so far; follow it.
  const streaming = list.querySelector<HTMLLIElement>('li[data-status="streaming"]');
  if (streaming) followAnswer(streaming.dataset.id!, `${api}/messages/${streaming.dataset.id}/stream`);
  else busy(false);
}

// codeButtons gives each highlighted code block in root its Copy button.
// The button sits in the block's corner (absolutely), so adding it moves
// nothing.
function codeButtons(root: ParentNode): void {
  root.querySelectorAll(".code-wrap").forEach((wrap) => {
    if (wrap.querySelector(".copy-code")) return;
    const b = document.createElement("button");
    b.type = "button";
    b.className = "btn-secondary copy-code";
    b.setAttribute("aria-label", "Copy code");
    wrap.append(b);
  });
}
