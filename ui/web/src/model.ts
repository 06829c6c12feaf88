// The app's state and the pure functions that change it. The store (store.ts)
// holds one Model; actions.ts talks to the API and applies these.
import type { Contact, Conversation, Me, Message, Network, Settings, State } from "./api";
import type { ConvMessages } from "./lib/merge";
import { messageTime } from "./lib/time";

export type Dialog =
  | { kind: "add-contact" }
  | { kind: "network" }
  | { kind: "settings" }
  | { kind: "verify"; contact: string }
  | { kind: "switcher" };

export type Connection = "connecting" | "open" | "lost";

export interface Model {
  /** "unauthorized" after any 401: the page lacks the session cookie. */
  auth: "ok" | "unauthorized";
  /** null until the first GET /api/state answers. */
  app: State | null;
  /** Why GET /api/state failed, when it did. */
  appError: string | null;
  connection: Connection;
  conversations: Conversation[];
  conversationsLoaded: boolean;
  conversationsError: string | null;
  selected: string | null;
  /** Loaded messages per contact id. */
  convs: Record<string, ConvMessages>;
  /** Contact id → time (ms) until which "typing…" shows. */
  typing: Record<string, number>;
  settings: Settings | null;
  network: Network | null;
  me: Me | null;
  dialog: Dialog | null;
  contactPanel: boolean;
  /** A short message at the bottom of the screen (failed background actions). */
  toast: string | null;
}

export function initialModel(): Model {
  return {
    auth: "ok",
    app: null,
    appError: null,
    connection: "connecting",
    conversations: [],
    conversationsLoaded: false,
    conversationsError: null,
    selected: null,
    convs: {},
    typing: {},
    settings: null,
    network: null,
    me: null,
    dialog: null,
    contactPanel: true,
    toast: null,
  };
}

/** The time of a conversation's latest activity (for ordering). */
export function activityTime(c: Conversation): number {
  return c.last ? messageTime(c.last) : Date.parse(c.contact.added_at) || 0;
}

/** Message requests first? No: requests are listed separately; this splits them. */
export function splitConversations(list: readonly Conversation[]): {
  requests: Conversation[];
  direct: Conversation[];
} {
  const requests: Conversation[] = [];
  const direct: Conversation[] = [];
  for (const c of list) (c.contact.state === "request" ? requests : direct).push(c);
  return { requests, direct };
}

/** The order the list shows conversations in (requests first, as in the sidebar). */
export function displayOrder(list: readonly Conversation[]): Conversation[] {
  const { requests, direct } = splitConversations(list);
  return [...requests, ...direct];
}

/**
 * Adds contacts that have no conversation entry yet (e.g. just added) so
 * every contact can be opened.
 */
export function withContacts(convs: readonly Conversation[], contacts: readonly Contact[]): Conversation[] {
  const have = new Set(convs.map((c) => c.contact.id));
  const extra: Conversation[] = contacts.filter((c) => !have.has(c.id)).map((contact) => ({ contact, unread: 0 }));
  if (extra.length === 0) return convs as Conversation[];
  return [...convs, ...extra].sort((a, b) => activityTime(b) - activityTime(a));
}

/**
 * Applies a message from a live event to the conversation list: updates the
 * preview, the unread count and moves the conversation to the top for a new
 * message. Returns null when the contact is not in the list (refetch it).
 */
export function conversationsWithMessage(
  list: readonly Conversation[],
  contact: string,
  msg: Message,
  opts: { isNew: boolean; unread?: number; open?: boolean },
): Conversation[] | null {
  const at = list.findIndex((c) => c.contact.id === contact);
  if (at < 0) return null;
  const old = list[at];
  let last = old.last;
  if (!last || last.id === msg.id || (opts.isNew && messageTime(msg) >= messageTime(last))) {
    last = last && last.id === msg.id ? { ...last, ...msg } : msg;
  }
  let unread = old.unread;
  if (opts.unread !== undefined) unread = opts.unread;
  else if (opts.isNew && !msg.outgoing && msg.kind === "text" && !opts.open) unread = old.unread + 1;
  const updated: Conversation = { ...old, last, unread };
  const next = list.slice();
  if (opts.isNew) {
    next.splice(at, 1);
    next.unshift(updated);
  } else {
    next[at] = updated;
  }
  return next;
}

/** Replaces a contact everywhere in the list. */
export function conversationsWithContact(list: readonly Conversation[], contact: Contact): Conversation[] {
  let found = false;
  const next = list.map((c) => {
    if (c.contact.id !== contact.id) return c;
    found = true;
    return { ...c, contact: { ...c.contact, ...contact } };
  });
  if (!found) next.unshift({ contact, unread: 0 });
  return next;
}

export function conversationsWithUnread(list: readonly Conversation[], contact: string, unread: number): Conversation[] {
  return list.map((c) => (c.contact.id === contact && c.unread !== unread ? { ...c, unread } : c));
}

export function findConversation(list: readonly Conversation[], contact: string | null): Conversation | undefined {
  if (!contact) return undefined;
  return list.find((c) => c.contact.id === contact);
}

/** The conversation above/below the current one in display order (wraps around). */
export function neighbour(list: readonly Conversation[], current: string | null, step: 1 | -1): string | null {
  const order = displayOrder(list);
  if (order.length === 0) return null;
  const at = order.findIndex((c) => c.contact.id === current);
  if (at < 0) return order[step === 1 ? 0 : order.length - 1].contact.id;
  return order[(at + step + order.length) % order.length].contact.id;
}

/** Case-insensitive match for the quick switcher: prefix matches first, then substring. */
export function switcherMatches(list: readonly Conversation[], query: string): Conversation[] {
  const q = query.trim().toLowerCase();
  if (!q) return displayOrder(list);
  const prefix: Conversation[] = [];
  const inner: Conversation[] = [];
  for (const c of list) {
    const name = c.contact.name.toLowerCase();
    if (name.startsWith(q)) prefix.push(c);
    else if (name.includes(q) || c.contact.peer.toLowerCase().includes(q)) inner.push(c);
  }
  return [...prefix, ...inner];
}

const IDENTITY_CHANGED = /(safety number|identity|key).{0,40}chang|chang.{0,40}(safety number|identity)/i;

/** Whether a notice says the contact's identity (safety number) changed. */
export function isIdentityChangeNotice(m: Message): boolean {
  return m.kind === "notice" && (m.notice === "identity_changed" || IDENTITY_CHANGED.test(m.text));
}
