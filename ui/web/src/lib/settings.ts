/** Parses the bootstrap textarea: one multiaddr per line, blanks and duplicates dropped. */
export function parseBootstrap(text: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t && !seen.has(t)) {
      seen.add(t);
      out.push(t);
    }
  }
  return out;
}
