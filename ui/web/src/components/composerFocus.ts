// Lets the shell give focus to the composer (when a conversation opens or a key is typed).
let el: HTMLTextAreaElement | null = null;

export function registerComposer(t: HTMLTextAreaElement | null): void {
  el = t;
}

export function focusComposer(): boolean {
  if (!el || el.disabled) return false;
  el.focus();
  return true;
}
