// A small JSON client for the ideas API: same-origin requests with the
// session cookie; answers are parsed whatever the status.
export interface Idea {
  id: string;
  title: string;
  body: string;
  // excerpt is the body as plain text (Markdown reduced to its words).
  excerpt?: string;
  tags: string[];
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface APIError {
  code: string;
  message: string;
  fields?: Record<string, string>;
}

export interface Answer<T> {
  status: number;
  data?: T;
  error?: APIError;
  raw: any;
}

export async function call<T>(method: string, url: string, body?: unknown): Promise<Answer<T>> {
  const init: RequestInit = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers = { Accept: "application/json", "Content-Type": "application/json" };
    init.body = JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch {
    return { status: 0, error: { code: "network", message: "You seem to be offline; nothing was saved." }, raw: null };
  }
  let raw: any = null;
  try {
    raw = res.status === 204 ? null : await res.json();
  } catch {
    raw = null;
  }
  if (res.ok) return { status: res.status, data: raw as T, raw };
  return { status: res.status, error: raw?.error ?? { code: "error", message: `The server answered ${res.status}.` }, raw };
}

// splitTags reads a tag line: commas or spaces separate, a leading # is dropped.
export function splitTags(line: string): string[] {
  return line
    .split(/[\s,]+/)
    .map((t) => t.replace(/^#/, "").trim())
    .filter((t) => t !== "");
}

// describe turns field errors into one sentence.
export function describe(err: APIError): string {
  if (!err.fields) return err.message;
  return Object.entries(err.fields)
    .map(([k, v]) => `The ${k} ${v}.`)
    .join(" ");
}

// debounce runs f once calls stop for ms.
export function debounce(f: () => void, ms: number): { (): void; flush(): void; cancel(): void } {
  let t: number | undefined;
  const run = () => {
    t = undefined;
    f();
  };
  const d = () => {
    if (t !== undefined) clearTimeout(t);
    t = window.setTimeout(run, ms);
  };
  d.flush = () => {
    if (t !== undefined) {
      clearTimeout(t);
      run();
    }
  };
  d.cancel = () => {
    if (t !== undefined) clearTimeout(t);
    t = undefined;
  };
  return d;
}
