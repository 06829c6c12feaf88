// Escape closes the innermost thing first: pickers, then dialogs, then a
// reply in progress. Each registers a handler; the newest one wins.

type Handler = () => void;
const stack: { fn: Handler }[] = [];

export function pushEscape(fn: Handler): () => void {
  const entry = { fn };
  stack.push(entry);
  return () => {
    const i = stack.indexOf(entry);
    if (i >= 0) stack.splice(i, 1);
  };
}

/** Runs the newest handler; false when nothing wanted Escape. */
export function handleEscape(): boolean {
  const top = stack[stack.length - 1];
  if (!top) return false;
  top.fn();
  return true;
}

export function escapeDepth(): number {
  return stack.length;
}
