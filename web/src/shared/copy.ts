// Copying to the clipboard, with a fallback for browsers or contexts
// (plain http) without the async Clipboard API.

export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.append(area);
    area.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
    return ok;
  }
}

// flash shows label on the button for two seconds ("Copied").
export function flash(button: HTMLElement, label: string): void {
  const was = button.dataset.label ?? button.textContent ?? "";
  button.dataset.label = was;
  button.textContent = label;
  setTimeout(() => {
    button.textContent = was;
  }, 2000);
}

// initCopyButtons wires buttons with data-copy="<id of an input>", such as
// the invite list's "Copy link".
export function initCopyButtons(): void {
  document.addEventListener("click", async (e) => {
    const b = (e.target as HTMLElement).closest<HTMLButtonElement>("button[data-copy]");
    if (!b) return;
    const field = document.getElementById(b.dataset.copy!) as HTMLInputElement | null;
    if (!field) return;
    if (await copyText(field.value)) flash(b, "Copied");
    else field.select();
  });
}
