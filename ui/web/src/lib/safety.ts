// Safety numbers: 60 digits shown as 12 groups of 5.

export function safetyGroups(sn: string): string[] {
  const digits = sn.replace(/\D/g, "");
  const groups: string[] = [];
  for (let i = 0; i < digits.length; i += 5) groups.push(digits.slice(i, i + 5));
  return groups;
}

/** "12345 67890 …" (12 groups separated by single spaces). */
export function formatSafetyNumber(sn: string): string {
  return safetyGroups(sn).join(" ");
}

/** Decodes standard or URL-safe base64 (padding optional) into bytes. */
export function base64ToBytes(b64: string): Uint8Array {
  let s = b64.replace(/\s/g, "").replace(/-/g, "+").replace(/_/g, "/");
  while (s.length % 4) s += "=";
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
