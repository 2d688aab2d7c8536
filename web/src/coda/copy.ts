// Copy buttons: <button data-copy="#selector" hidden> copies the value (or
// text) of the element it names. The button stays hidden without
// JavaScript, where the field is selectable by hand.
export function initCopy(): void {
  for (const btn of document.querySelectorAll<HTMLButtonElement>("button[data-copy]")) {
    const target = document.querySelector<HTMLInputElement>(btn.dataset.copy!);
    if (!target) continue;
    const status = document.querySelector<HTMLElement>("#copy-status");
    btn.hidden = false;
    btn.addEventListener("click", async () => {
      const value = target.value ?? target.textContent ?? "";
      let ok = false;
      try {
        await navigator.clipboard.writeText(value);
        ok = true;
      } catch {
        // Clipboard API refused (no secure context): select and copy.
        target.select?.();
        ok = document.execCommand("copy");
      }
      btn.textContent = ok ? "Copied" : "Select and copy";
      if (status) status.textContent = ok ? "Token copied to the clipboard." : "Copying failed: select the token and copy it.";
      window.setTimeout(() => (btn.textContent = "Copy"), 3000);
    });
  }
}
