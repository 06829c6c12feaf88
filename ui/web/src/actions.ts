// Everything that talks to the API or the event stream and updates the store.
import {
  api,
  ApiError,
  eventsURL,
  isApiError,
  setUnauthorizedHandler,
  type ApiEvent,
  type ChatEvent,
  type Contact,
  type Message,
  type Settings,
  type State,
} from "./api";
import { EventStream } from "./events";
import { humanError } from "./lib/errors";
import {
  applyLiveMessage,
  applyNewestPage,
  applyOlderPage,
  emptyConv,
  PAGE_SIZE,
  updateMessage,
  type ConvMessages,
} from "./lib/merge";
import { notificationBody, pageInBackground, requestNotificationPermission, showNotification } from "./lib/notify";
import { isRemoval, toggleReaction } from "./lib/reactions";
import { TYPING_SHOW_MS } from "./lib/typing";
import {
  conversationsWithContact,
  conversationsWithMessage,
  conversationsWithUnread,
  findConversation,
  withContacts,
  type Dialog,
} from "./model";
import { store } from "./store";

const s = store;
let stream: EventStream | null = null;
let booted = false;

const SELECTED_KEY = "discordopus.selected";

/** Starts the app: 401 handling, the event stream, the first state fetch. */
export function boot(): void {
  if (booted) return;
  booted = true;
  setUnauthorizedHandler(() => {
    s.set({ auth: "unauthorized" });
    stream?.stop();
  });
  try {
    const sel = sessionStorage.getItem(SELECTED_KEY);
    if (sel) s.set({ selected: sel });
  } catch {
    // no storage
  }
  stream = new EventStream({
    url: () => eventsURL(),
    onEvent: handleEvent,
    onStatus: (st) => {
      if (st === "closed") s.set({ connection: "lost" });
    },
    onRetry: (attempt) => {
      // A socket that never opens may mean the app restarted (new token: 401) or stopped.
      if (attempt >= 3 && attempt % 3 === 0) void refreshState();
    },
  });
  stream.start();
  void refreshState();
  // Browsers only ask for notification permission after a user gesture: ask
  // once, at the first click, when notifications are on.
  const askOnce = () => {
    const st = s.get().settings;
    if (!st) return;
    document.removeEventListener("pointerdown", askOnce);
    if (st.notifications) requestNotificationPermission();
  };
  document.addEventListener("pointerdown", askOnce);
  const recheck = () => maybeMarkRead();
  window.addEventListener("focus", recheck);
  document.addEventListener("visibilitychange", recheck);
}

// ---------------------------------------------------------------- app state

let pollTimer: ReturnType<typeof setTimeout> | null = null;

function schedulePoll(ms: number): void {
  if (pollTimer) return;
  pollTimer = setTimeout(() => {
    pollTimer = null;
    void refreshState();
  }, ms);
}

export async function refreshState(): Promise<State | null> {
  try {
    const st = await api.state();
    applyState(st);
    return st;
  } catch (e) {
    if (isApiError(e, "unauthorized")) return null;
    // Keep what is on screen if we already know the state; else show why.
    if (!s.get().app) s.set({ appError: humanError(e) });
    schedulePoll(2000);
    return null;
  }
}

export function applyState(st: State): void {
  const prev = s.get().app?.state;
  s.set({ app: st, appError: null });
  if (st.state === "starting") schedulePoll(300);
  if (st.state === "running") {
    if (prev !== "running") void onRunning();
    if (stream && !stream.connected) stream.reconnectNow();
  }
}

async function onRunning(): Promise<void> {
  void loadSettings();
  void loadNetwork().catch(() => undefined); // the offline banner needs a first view
  await loadConversations();
  const sel = s.get().selected;
  if (sel) void loadNewest(sel);
}

// ---------------------------------------------------------------- events

function handleEvent(ev: ApiEvent): void {
  switch (ev.type) {
    case "hello":
      s.set({ connection: "open" });
      void catchUp(ev.state);
      break;
    case "state":
      applyState(ev.state);
      break;
    case "network":
      s.set({ network: ev.network });
      break;
    case "chat":
      handleChat(ev);
      break;
  }
}

/** After (re)connecting: events are not replayed, so read everything that matters again. */
async function catchUp(st: State): Promise<void> {
  const wasRunning = s.get().app?.state === "running";
  applyState(st);
  const fresh = await refreshState();
  const running = (fresh ?? st).state === "running";
  if (!running || !wasRunning) return; // onRunning already loads everything on the transition
  void loadConversations();
  const sel = s.get().selected;
  if (sel) void loadNewest(sel);
  if (!s.get().settings) void loadSettings();
  void loadNetwork().catch(() => undefined);
}

function handleChat(ev: ChatEvent): void {
  const id = ev.contact;
  switch (ev.kind) {
    case "message":
      if (ev.message) {
        applyMessage(id, ev.message, true, ev.unread);
        if (!ev.message.outgoing) {
          setTyping(id, false);
          notifyIncoming(id, ev.message);
          if (s.get().selected === id) maybeMarkRead(true);
        }
      } else scheduleConversationsRefresh();
      break;
    case "state":
    case "reaction":
      if (ev.message) applyMessage(id, ev.message, false, ev.unread);
      else if (ev.unread !== undefined) setUnread(id, ev.unread);
      break;
    case "typing":
      setTyping(id, !!ev.typing);
      break;
    case "read":
      // The server omits unread when it is 0 (omitempty).
      if (ev.message) applyMessage(id, ev.message, false, ev.unread ?? 0);
      else setUnread(id, ev.unread ?? 0);
      break;
    case "contact":
      scheduleConversationsRefresh();
      break;
  }
}

function focused(): boolean {
  return document.visibilityState === "visible" && document.hasFocus();
}

function applyMessage(id: string, msg: Message, isNew: boolean, unread?: number): void {
  s.set((m) => {
    const patch: Partial<typeof m> = {};
    const conv = m.convs[id];
    if (conv) {
      const next = applyLiveMessage(conv, msg);
      if (next !== conv) patch.convs = { ...m.convs, [id]: next };
    }
    const open = m.selected === id && focused();
    const list = conversationsWithMessage(m.conversations, id, msg, { isNew, unread, open });
    if (list) patch.conversations = list;
    else scheduleConversationsRefresh();
    return patch;
  });
}

function setUnread(id: string, unread: number): void {
  s.set((m) => ({ conversations: conversationsWithUnread(m.conversations, id, unread) }));
}

function notifyIncoming(id: string, msg: Message): void {
  const m = s.get();
  const st = m.settings;
  if (!st || !st.notifications || msg.kind !== "text") return;
  const conv = findConversation(m.conversations, id);
  if (conv?.contact.state === "blocked") return;
  if (!pageInBackground()) return;
  showNotification(conv?.contact.name ?? "DiscordOpus", notificationBody(msg.text, st.notification_content));
}

const typingTimers = new Map<string, ReturnType<typeof setTimeout>>();

function setTyping(id: string, on: boolean): void {
  const t = typingTimers.get(id);
  if (t) clearTimeout(t);
  typingTimers.delete(id);
  if (on) {
    typingTimers.set(
      id,
      setTimeout(() => setTyping(id, false), TYPING_SHOW_MS),
    );
    s.set((m) => ({ typing: { ...m.typing, [id]: Date.now() + TYPING_SHOW_MS } }));
  } else if (s.get().typing[id] !== undefined) {
    s.set((m) => {
      const typing = { ...m.typing };
      delete typing[id];
      return { typing };
    });
  }
}

// ---------------------------------------------------------------- conversations

function singleFlight(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null;
  let again = false;
  const run = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = fn().finally(() => {
      running = null;
      if (again) {
        again = false;
        void run();
      }
    });
    return running;
  };
  return run;
}

export const loadConversations = singleFlight(async () => {
  try {
    const [c, contacts] = await Promise.all([
      api.conversations(),
      api.contacts().catch(() => ({ contacts: [] as Contact[] })),
    ]);
    s.set({
      conversations: withContacts(c.conversations ?? [], contacts.contacts ?? []),
      conversationsLoaded: true,
      conversationsError: null,
    });
    maybeMarkRead();
  } catch (e) {
    if (isApiError(e, "unauthorized")) return;
    s.set({ conversationsError: humanError(e) });
  }
});

let refreshTimer: ReturnType<typeof setTimeout> | null = null;
function scheduleConversationsRefresh(): void {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    void loadConversations();
  }, 150);
}

function patchConv(id: string, f: (c: ConvMessages) => ConvMessages): void {
  s.set((m) => ({ convs: { ...m.convs, [id]: f(m.convs[id] ?? emptyConv()) } }));
}

const newestFlights = new Map<string, () => Promise<void>>();

/** Loads (or reloads and merges) the newest page of a conversation. */
export function loadNewest(id: string): Promise<void> {
  let f = newestFlights.get(id);
  if (!f) {
    f = singleFlight(async () => {
      patchConv(id, (c) => ({ ...c, loading: true }));
      try {
        const r = await api.messages(id, { limit: PAGE_SIZE });
        patchConv(id, (c) => applyNewestPage(c, r.messages ?? [], PAGE_SIZE));
      } catch (e) {
        patchConv(id, (c) => ({ ...c, loading: false, error: humanError(e) }));
      }
    });
    newestFlights.set(id, f);
  }
  return f();
}

/** Loads the page before the oldest loaded message. */
export async function loadOlder(id: string): Promise<void> {
  const c = s.get().convs[id];
  if (!c || !c.loaded || !c.hasOlder || c.loadingOlder || c.list.length === 0) return;
  const before = c.list[0].id;
  patchConv(id, (x) => ({ ...x, loadingOlder: true }));
  try {
    const r = await api.messages(id, { before, limit: PAGE_SIZE });
    patchConv(id, (x) => applyOlderPage(x, r.messages ?? [], PAGE_SIZE));
  } catch (e) {
    patchConv(id, (x) => ({ ...x, loadingOlder: false }));
    toast("Couldn't load older messages: " + humanError(e));
  }
}

export function selectConversation(id: string | null): void {
  if (s.get().selected === id) return;
  s.set({ selected: id });
  try {
    if (id) sessionStorage.setItem(SELECTED_KEY, id);
    else sessionStorage.removeItem(SELECTED_KEY);
  } catch {
    // no storage
  }
  if (id) {
    const c = s.get().convs[id];
    if (!c || (!c.loaded && !c.loading)) void loadNewest(id);
    maybeMarkRead();
  }
}

const readInFlight = new Set<string>();
const readAgain = new Set<string>();

/**
 * Marks the open conversation read when the window has focus and there is
 * something unread (or `force`: a new incoming message just arrived).
 */
export function maybeMarkRead(force = false): void {
  const m = s.get();
  const id = m.selected;
  if (!id || m.app?.state !== "running" || !focused()) return;
  const conv = findConversation(m.conversations, id);
  if (!conv || (!force && conv.unread === 0)) return;
  if (readInFlight.has(id)) {
    readAgain.add(id);
    return;
  }
  readInFlight.add(id);
  if (conv.unread !== 0) setUnread(id, 0);
  api
    .markRead(id)
    .catch(() => {
      // the count comes back with the next conversations fetch
    })
    .finally(() => {
      readInFlight.delete(id);
      if (readAgain.delete(id)) maybeMarkRead(true);
    });
}

// ---------------------------------------------------------------- messages

/** Sends a message; throws ApiError (the composer keeps the text and shows it). */
export async function sendMessage(id: string, text: string, replyTo?: string): Promise<Message> {
  const r = await api.send(id, text, replyTo);
  if (r.message) applyMessage(id, r.message, true);
  return r.message;
}

export async function toggleReactionOn(id: string, msg: Message, emoji: string): Promise<void> {
  const remove = isRemoval(msg.reactions, emoji);
  const before = msg.reactions;
  patchConv(id, (c) => updateMessage(c, msg.id, (x) => ({ ...x, reactions: toggleReaction(x.reactions, emoji) })));
  try {
    const r = await api.react(id, msg.id, emoji, remove);
    if (r.message) applyMessage(id, r.message, false);
  } catch (e) {
    patchConv(id, (c) => updateMessage(c, msg.id, (x) => ({ ...x, reactions: before })));
    toast(humanError(e, "react"));
  }
}

export function sendTyping(id: string, typing: boolean): void {
  if (s.get().settings?.typing_indicators === false) return;
  api.typing(id, typing).catch(() => {
    // best effort
  });
}

// ---------------------------------------------------------------- contacts

function applyContact(c: Contact): void {
  s.set((m) => ({ conversations: conversationsWithContact(m.conversations, c) }));
}

export async function setContactState(id: string, state: "accepted" | "blocked"): Promise<void> {
  try {
    const r = await api.setContactState(id, state);
    applyContact(r.contact);
  } catch (e) {
    toast(humanError(e));
  }
}

export async function setVerified(id: string, verified: boolean): Promise<Contact> {
  const r = await api.verify(id, verified);
  applyContact(r.contact);
  return r.contact;
}

/** Adds a contact; throws ApiError for the dialog to explain. */
export async function addContact(invite: string, name: string, replace: boolean): Promise<Contact> {
  const r = await api.addContact(invite, name, replace);
  applyContact(r.contact);
  void loadConversations();
  return r.contact;
}

// ---------------------------------------------------------------- settings, network, me

export async function loadSettings(): Promise<Settings | null> {
  try {
    const st = await api.settings();
    s.set({ settings: st });
    return st;
  } catch {
    return null;
  }
}

export async function saveSettings(next: Settings): Promise<Settings> {
  const st = await api.saveSettings(next);
  s.set({ settings: st });
  return st;
}

export async function loadNetwork(): Promise<void> {
  const n = await api.network();
  s.set({ network: n });
}

export async function loadMe(): Promise<void> {
  const me = await api.me();
  s.set({ me });
}

// ---------------------------------------------------------------- ui

export function openDialog(d: Dialog | null): void {
  s.set({ dialog: d });
}

export function toggleContactPanel(): void {
  s.set((m) => ({ contactPanel: !m.contactPanel }));
}

let toastTimer: ReturnType<typeof setTimeout> | null = null;
export function toast(text: string): void {
  if (toastTimer) clearTimeout(toastTimer);
  s.set({ toast: text });
  toastTimer = setTimeout(() => s.set({ toast: null }), 6000);
}

export { ApiError };
