// Task lists: "- [ ] call Ada" in an idea's Markdown shows as a checkbox
// on the list and in the idea's preview. Ticking one is an update of the
// version the page saw (POST /api/ideas/{id}/tasks/{n}); if the idea
// changed elsewhere meanwhile the server answers 409 and the page says
// so instead of overwriting. The server renders the boxes disabled, so
// without JavaScript they only show the state.
import { call, describe, type Answer, type Idea } from "./api";

// tick sets task n of idea id, based on version.
export function tick(id: string, n: number, done: boolean, version: number): Promise<Answer<Idea>> {
  return call<Idea>("POST", `/api/ideas/${id}/tasks/${n}`, { done, version });
}

// conflictText says why a tick was not saved.
export function conflictText(res: Answer<Idea>): string {
  if (res.status === 409) {
    const v = res.raw?.current?.version;
    return `Not saved: this idea changed elsewhere${v ? ` (it is now at version ${v})` : ""}. Reload to see it, then tick again.`;
  }
  return `Not saved: ${describe(res.error!)}`;
}

// enableBoxes makes the task checkboxes under root tickable.
export function enableBoxes(root: ParentNode, sel: string): void {
  for (const box of root.querySelectorAll<HTMLInputElement>(sel)) box.disabled = false;
}

export function initTasks(): void {
  const list = document.querySelector<HTMLOListElement>("#idea-list");
  if (!list) return;
  enableBoxes(list, ".idea-tasks input[data-task]");
  list.addEventListener("change", async (ev) => {
    const box = ev.target as HTMLInputElement;
    if (!box.matches(".idea-tasks input[data-task]")) return;
    const li = box.closest<HTMLLIElement>("li.idea")!;
    const status = li.querySelector<HTMLElement>(".task-status");
    const done = box.checked;
    box.disabled = true;
    const res = await tick(li.dataset.id!, Number(box.dataset.task), done, Number(li.dataset.version));
    box.disabled = false;
    if (res.data) {
      li.dataset.version = String(res.data.version);
      box.closest("li")?.classList.toggle("is-done", done);
      if (status) {
        status.hidden = true;
        status.textContent = "";
      }
      return;
    }
    box.checked = !done;
    if (status) {
      status.textContent = conflictText(res);
      status.hidden = false;
    }
  });
}
