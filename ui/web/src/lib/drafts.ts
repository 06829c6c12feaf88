// Composer drafts per conversation, kept in memory and in sessionStorage so
// a reload does not lose them.

export interface KV {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

const PREFIX = "discordopus.draft.";

export class Drafts {
  private mem = new Map<string, string>();
  constructor(private storage: KV | null = safeSessionStorage()) {}

  get(contact: string): string {
    const m = this.mem.get(contact);
    if (m !== undefined) return m;
    try {
      const s = this.storage?.getItem(PREFIX + contact);
      if (s) {
        this.mem.set(contact, s);
        return s;
      }
    } catch {
      // storage unavailable
    }
    return "";
  }

  set(contact: string, text: string): void {
    if (text) this.mem.set(contact, text);
    else this.mem.delete(contact);
    try {
      if (text) this.storage?.setItem(PREFIX + contact, text);
      else this.storage?.removeItem(PREFIX + contact);
    } catch {
      // quota or privacy mode: the in-memory copy is still there
    }
  }

  clear(contact: string): void {
    this.set(contact, "");
  }
}

function safeSessionStorage(): KV | null {
  try {
    return typeof sessionStorage === "undefined" ? null : sessionStorage;
  } catch {
    return null;
  }
}

export const drafts = new Drafts();
