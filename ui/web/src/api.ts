// The typed client for the local API (see ../../API.md). Every call goes to
// the same origin; the session cookie set by the server authenticates it.

export type AppState = "setup" | "locked" | "starting" | "running" | "failed";
export interface State {
  state: AppState;
  peer_id?: string;
  error?: string;
}

export type ContactState = "accepted" | "request" | "blocked";
export interface Contact {
  id: string;
  peer: string;
  name: string;
  state: ContactState;
  verified: boolean;
  addrs?: string[];
  added_at: string;
}

export type DeliveryState = "sending" | "sent" | "delivered" | "read" | "failed";
export interface Reaction {
  emoji: string;
  mine: boolean;
}
export interface Message {
  id: string;
  contact: string;
  kind: "text" | "notice";
  outgoing: boolean;
  sent_at: string;
  received_at?: string;
  text: string;
  /** What a notice is about: "identity_changed". */
  notice?: string;
  reply_to?: string;
  state?: DeliveryState;
  reactions?: Reaction[];
}

export interface Conversation {
  contact: Contact;
  unread: number;
  last_read?: string;
  last?: Message;
  peer_read_receipts?: boolean;
}

export interface Settings {
  display_name: string;
  read_receipts: boolean;
  typing_indicators: boolean;
  bootstrap: string[];
  notifications: boolean;
  notification_content: boolean;
}

export interface NetworkPeer {
  peer: string;
  addr: string;
  direction: string;
}
export interface BootstrapPeer {
  addr: string;
  peer: string;
  connected: boolean;
}
export interface Network {
  peer_id: string;
  addrs: string[];
  invite: string;
  peers: NetworkPeer[];
  routing_table: number;
  dht_ready: boolean;
  bootstrap: BootstrapPeer[];
  mailbox?: { holding: boolean; envelopes?: number; last_drain?: string; last_drain_error?: string };
  /** How this node reaches and is reached (discordopus doctor). */
  nat?: {
    reachability: string;
    nat: string;
    nat_reason: string;
    observed?: string[] | null;
    relays?: string[] | null;
    /** Why no relay holds a reservation, when the last request failed. */
    relay_problem?: string;
    contacts?: ContactPath[] | null;
  };
}

/** How this node is connected to one contact, with the reason in plain words. */
export interface ContactPath {
  name: string;
  peer: string;
  /** direct, hole-punched, relayed or none */
  path: string;
  transport?: string;
  relay?: string;
  /** Not connected since a relay cut the connection. */
  cut?: boolean;
  reason: string;
}

export interface Me {
  peer_id: string;
  invite: string;
  addrs: string[];
  display_name: string;
}

export interface SafetyNumber {
  contact: Contact;
  safety_number: string;
  qr: string;
}

export type ChatEventKind = "message" | "state" | "reaction" | "typing" | "contact" | "read";
export interface ChatEvent {
  type: "chat";
  kind: ChatEventKind;
  contact: string;
  message?: Message;
  typing?: boolean;
  unread?: number;
}
export type ApiEvent =
  | { type: "hello"; state: State }
  | { type: "state"; state: State }
  | ChatEvent
  | { type: "network"; network: Network };

/** An error answered by the API (or a failure to reach it). */
export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

export function isApiError(e: unknown, code?: string): e is ApiError {
  return e instanceof ApiError && (code === undefined || e.code === code);
}

type UnauthorizedHandler = () => void;
let onUnauthorized: UnauthorizedHandler | null = null;

/** Registers what to do when any call answers 401 (the page is not signed in). */
export function setUnauthorizedHandler(h: UnauthorizedHandler | null): void {
  onUnauthorized = h;
}

const STATUS_TEXT: Record<number, string> = {
  400: "The request was not understood.",
  401: "This page is not signed in.",
  403: "This request was refused.",
  404: "Not found.",
  409: "That can't be done right now.",
  422: "That was refused.",
  500: "Something went wrong inside DiscordOpus.",
};

/** Turns a non-2xx answer into an ApiError using the server's JSON when there is one. */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  let code = "";
  let message = "";
  try {
    const body: unknown = await res.json();
    if (body && typeof body === "object") {
      const b = body as { error?: unknown; code?: unknown };
      if (typeof b.error === "string") message = b.error;
      if (typeof b.code === "string") code = b.code;
    }
  } catch {
    // not JSON: fall back to the status
  }
  if (!code) code = res.status === 401 ? "unauthorized" : res.status >= 500 ? "internal" : "http_" + res.status;
  if (!message) message = STATUS_TEXT[res.status] ?? `Unexpected answer (HTTP ${res.status}).`;
  return new ApiError(res.status, code, message);
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = {
    method,
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { Accept: "application/json", "Content-Type": "application/json" };
  }
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "Can't reach DiscordOpus. Is it still running?");
  }
  if (!res.ok) {
    const err = await errorFromResponse(res);
    if (res.status === 401 && onUnauthorized) onUnauthorized();
    throw err;
  }
  if (res.status === 204) return {} as T;
  let out: T;
  try {
    out = (await res.json()) as T;
  } catch {
    throw new ApiError(res.status, "bad_response", "DiscordOpus sent an answer this page can't read.");
  }
  nameContacts(out);
  return out;
}

/** shortPeer is how a contact without a name is shown: the end of its PeerID. */
export function shortPeer(peer: string): string {
  return "…" + peer.slice(-8);
}

/**
 * nameContacts gives every unnamed contact in an answer (a message request
 * from someone who has not been added) a name to be shown by: the end of
 * its PeerID, as the terminal client shows it.
 */
export function nameContacts(out: unknown): void {
  const fix = (c: Contact | undefined) => {
    if (c && !c.name && c.peer) c.name = shortPeer(c.peer);
  };
  const o = out as { contact?: Contact; contacts?: Contact[]; conversations?: Conversation[] } | null;
  if (!o || typeof o !== "object") return;
  fix(o.contact);
  o.contacts?.forEach(fix);
  o.conversations?.forEach((c) => fix(c.contact));
}

const enc = encodeURIComponent;

export const api = {
  state: () => request<State>("GET", "/api/state"),
  setup: (passphrase: string, display_name: string) =>
    request<State>("POST", "/api/setup", { passphrase, display_name }),
  unlock: (passphrase: string) => request<State>("POST", "/api/unlock", { passphrase }),
  me: () => request<Me>("GET", "/api/me"),
  contacts: () => request<{ contacts: Contact[] }>("GET", "/api/contacts"),
  addContact: (invite: string, name: string, replace?: boolean) =>
    request<{ contact: Contact }>(
      "POST",
      "/api/contacts",
      replace ? { invite, name, replace: true } : { invite, name },
    ),
  setContactState: (contact: string, state: "accepted" | "blocked") =>
    request<{ contact: Contact }>("POST", `/api/contacts/${enc(contact)}/state`, { state }),
  safetyNumber: (contact: string) =>
    request<SafetyNumber>("GET", `/api/contacts/${enc(contact)}/safety-number`),
  verify: (contact: string, verified: boolean) =>
    request<{ contact: Contact }>("POST", `/api/contacts/${enc(contact)}/verify`, { verified }),
  conversations: () => request<{ conversations: Conversation[] }>("GET", "/api/conversations"),
  messages: (contact: string, opts: { before?: string; limit?: number } = {}) => {
    const q = new URLSearchParams();
    if (opts.before) q.set("before", opts.before);
    if (opts.limit) q.set("limit", String(opts.limit));
    const qs = q.toString();
    return request<{ messages: Message[] }>(
      "GET",
      `/api/conversations/${enc(contact)}/messages${qs ? "?" + qs : ""}`,
    );
  },
  send: (contact: string, text: string, reply_to?: string) =>
    request<{ message: Message }>(
      "POST",
      `/api/conversations/${enc(contact)}/messages`,
      reply_to ? { text, reply_to } : { text },
    ),
  react: (contact: string, target: string, emoji: string, remove: boolean) =>
    request<{ message: Message }>(
      "POST",
      `/api/conversations/${enc(contact)}/reactions`,
      remove ? { target, emoji, remove: true } : { target, emoji },
    ),
  markRead: (contact: string) => request<object>("POST", `/api/conversations/${enc(contact)}/read`, {}),
  typing: (contact: string, typing: boolean) =>
    request<object>("POST", `/api/conversations/${enc(contact)}/typing`, { typing }),
  settings: () => request<Settings>("GET", "/api/settings"),
  saveSettings: (s: Settings) => request<Settings>("PUT", "/api/settings", s),
  network: () => request<Network>("GET", "/api/network"),
};

/** The WebSocket address of the event stream, on the page's own origin. */
export function eventsURL(loc: { protocol: string; host: string } = window.location): string {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}/api/events`;
}
