// The chat page: send a message, follow the streamed answer (SSE), stop
// it, regenerate the last one, and keep following an answer in progress
// after a reload. Answers arrive as plain text; the server sends the
// sanitised Markdown HTML when one is done.

interface MessageJSON {
  id: string;
  role: string;
  content: string;
  status: string;
  error?: string;
  html?: string;
}

interface Sent {
  user_message?: MessageJSON;
  answer: MessageJSON;
  quota: { limit: number; remaining: number };
  stream_url: string;
}

export function initChat(): void {
  const chat = document.getElementById("chat");
  if (!chat) return;
  const api = chat.dataset.api!;
  const conv = chat.dataset.conversation!;
  const list = document.getElementById("messages") as HTMLOListElement;
  const form = document.getElementById("composer") as HTMLFormElement;
  const input = document.getElementById("content") as HTMLTextAreaElement;
  const send = document.getElementById("send") as HTMLButtonElement;
  const stop = document.getElementById("stop") as HTMLButtonElement;
  const regen = document.getElementById("regenerate") as HTMLButtonElement;
  const errorBox = document.getElementById("composer-error") as HTMLParagraphElement;
  let current: { id: string; es: EventSource } | null = null;

  const showError = (msg: string) => {
    errorBox.textContent = msg;
    errorBox.hidden = msg === "";
  };
  const busy = (on: boolean) => {
    send.disabled = on;
    regen.disabled = on;
    stop.hidden = !on;
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
      li.append(p);
    }
  };

  const follow = (id: string, url: string) => {
    const li = (document.getElementById("m-" + id) as HTMLLIElement) ?? bubble({ id, role: "assistant", content: "", status: "streaming" });
    const text = li.querySelector(".msg-text") as HTMLParagraphElement;
    const es = new EventSource(url);
    current = { id, es };
    busy(true);
    es.addEventListener("snapshot", (e) => {
      text.textContent = JSON.parse((e as MessageEvent).data).text;
    });
    es.addEventListener("delta", (e) => {
      text.textContent += JSON.parse((e as MessageEvent).data).text;
      li.scrollIntoView({ block: "end" });
    });
    es.addEventListener("done", (e) => {
      const m = JSON.parse((e as MessageEvent).data) as MessageJSON;
      es.close();
      current = null;
      li.dataset.status = m.status;
      const body = li.querySelector(".msg-body") as HTMLDivElement;
      // The server renders Markdown and sanitises it (no script, no raw HTML).
      body.innerHTML = m.html ?? "";
      note(li, m);
      busy(false);
    });
  };

  const post = async (url: string, body?: unknown): Promise<Sent | null> => {
    const res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
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

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const content = input.value.trim();
    if (!content || current) return;
    busy(true);
    const sent = await post(`${api}/conversations/${conv}/messages`, { content });
    if (!sent) {
      busy(false);
      return;
    }
    input.value = "";
    if (sent.user_message) bubble(sent.user_message);
    bubble(sent.answer);
    quota(sent.quota);
    follow(sent.answer.id, sent.stream_url);
  });

  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      form.requestSubmit();
    }
  });

  // "Continue" after a stopped or interrupted answer asks the coach to go on.
  list.addEventListener("click", (e) => {
    if (!(e.target as HTMLElement).matches("button.continue") || current) return;
    input.value = "Please continue where you left off.";
    form.requestSubmit();
  });

  stop.addEventListener("click", () => {
    if (current) void post(`${api}/messages/${current.id}/stop`);
  });

  regen.addEventListener("click", async () => {
    if (current) return;
    busy(true);
    const sent = await post(`${api}/conversations/${conv}/regenerate`);
    if (!sent) {
      busy(false);
      return;
    }
    const last = list.querySelector("li.msg-assistant:last-child");
    last?.remove();
    bubble(sent.answer);
    quota(sent.quota);
    follow(sent.answer.id, sent.stream_url);
  });

  // A reload during an answer: pick it up where it is.
  const streaming = list.querySelector<HTMLLIElement>('li[data-status="streaming"]');
  if (streaming) follow(streaming.dataset.id!, `${api}/messages/${streaming.dataset.id}/stream`);
}

// initInvite wires the admin's "Create invite link" button.
export function initInvite(): void {
  const btn = document.getElementById("create-invite") as HTMLButtonElement | null;
  if (!btn) return;
  btn.addEventListener("click", async () => {
    const res = await fetch(btn.dataset.api!, { method: "POST", headers: { Accept: "application/json" } });
    const data = await res.json().catch(() => ({}));
    const out = document.getElementById("invite-url")!;
    out.textContent = res.ok ? data.url : (data?.error?.message ?? "Could not create an invite.");
  });
}
