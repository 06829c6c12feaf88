// The loaded window of one conversation's messages, and how fetched pages
// (newest first, from the API) and live events merge into it.
import type { Message } from "../api";
import { messageTime } from "./time";
import { laterState } from "./ticks";

export const PAGE_SIZE = 100;
/** Virtuoso's index of the first item; it goes down as older pages are prepended. */
export const FIRST_INDEX = 10_000_000;

export interface ConvMessages {
  /** Chronological (oldest first). */
  list: Message[];
  /** The newest page arrived at least once. */
  loaded: boolean;
  loading: boolean;
  /** Older messages exist on the server beyond the first item. */
  hasOlder: boolean;
  loadingOlder: boolean;
  firstItemIndex: number;
  /** Bumped when the window is replaced rather than extended (the list remounts). */
  generation: number;
  error?: string;
}

export function emptyConv(): ConvMessages {
  return {
    list: [],
    loaded: false,
    loading: false,
    hasOlder: false,
    loadingOlder: false,
    firstItemIndex: FIRST_INDEX,
    generation: 0,
  };
}

/** The API's newest-first page in chronological order (does not modify its argument). */
export function chronological(newestFirst: readonly Message[]): Message[] {
  return [...newestFirst].reverse();
}

/** A fresher copy of a message: the incoming fields win, but delivery state never goes back. */
export function mergeMessage(old: Message, incoming: Message): Message {
  const state = laterState(old.state, incoming.state);
  const merged: Message = { ...old, ...incoming };
  if (state) merged.state = state;
  if (!incoming.received_at && old.received_at) merged.received_at = old.received_at;
  return merged;
}

/**
 * Merges messages (any order) into a chronological list: duplicates (same id)
 * are updated in place, new ones inserted by time (stable for equal times).
 */
export function mergeSorted(existing: readonly Message[], incoming: readonly Message[]): Message[] {
  if (incoming.length === 0) return existing as Message[];
  const index = new Map<string, number>();
  existing.forEach((m, i) => index.set(m.id, i));
  let out: Message[] | null = null;
  const fresh: Message[] = [];
  const freshIds = new Map<string, number>();
  for (const m of incoming) {
    const at = index.get(m.id);
    if (at !== undefined) {
      if (!out) out = existing.slice();
      out[at] = mergeMessage(out[at], m);
    } else {
      const f = freshIds.get(m.id);
      if (f !== undefined) fresh[f] = mergeMessage(fresh[f], m);
      else {
        freshIds.set(m.id, fresh.length);
        fresh.push(m);
      }
    }
  }
  const base = out ?? (existing as Message[]);
  if (fresh.length === 0) return base;
  const freshSorted = fresh
    .map((m, i) => ({ m, i, t: messageTime(m) }))
    .sort((a, b) => a.t - b.t || a.i - b.i)
    .map((x) => x.m);
  // Fast path: everything new is newer than what we have (live messages).
  if (base.length === 0 || messageTime(freshSorted[0]) >= messageTime(base[base.length - 1])) {
    return base.concat(freshSorted);
  }
  if (messageTime(freshSorted[freshSorted.length - 1]) < messageTime(base[0])) {
    return freshSorted.concat(base);
  }
  const result: Message[] = [];
  let i = 0;
  let j = 0;
  while (i < base.length || j < freshSorted.length) {
    if (j >= freshSorted.length) result.push(base[i++]);
    else if (i >= base.length) result.push(freshSorted[j++]);
    else if (messageTime(freshSorted[j]) < messageTime(base[i])) result.push(freshSorted[j++]);
    else result.push(base[i++]);
  }
  return result;
}

/** Keeps firstItemIndex right when items were added before the old first item. */
function withPrepended(conv: ConvMessages, list: Message[]): number {
  if (conv.list.length === 0) return conv.firstItemIndex;
  const oldFirst = conv.list[0].id;
  const at = list.findIndex((m) => m.id === oldFirst);
  return at > 0 ? conv.firstItemIndex - at : conv.firstItemIndex;
}

/**
 * Merges the newest page (as the API answers it: newest first). Used when a
 * conversation opens and to catch up after a reconnect. When the page is full
 * and does not reach the messages we already had, the old ones are dropped
 * (there may be a gap between them) and the list restarts from the page.
 */
export function applyNewestPage(conv: ConvMessages, newestFirst: readonly Message[], limit = PAGE_SIZE): ConvMessages {
  const page = chronological(newestFirst);
  let existing = conv.list;
  let generation = conv.generation;
  let hasOlder = conv.loaded ? conv.hasOlder : page.length >= limit;
  let firstItemIndex = conv.firstItemIndex;
  if (page.length >= limit && existing.length > 0) {
    const oldestTime = messageTime(page[0]);
    const known = new Set(existing.map((m) => m.id));
    const connected = known.has(page[0].id);
    if (!connected) {
      const kept = existing.filter((m) => messageTime(m) >= oldestTime);
      if (kept.length !== existing.length) {
        existing = kept;
        generation++;
        firstItemIndex = FIRST_INDEX;
        hasOlder = true;
      }
    }
  }
  if (page.length < limit && !conv.loaded) hasOlder = false;
  const base: ConvMessages = { ...conv, list: existing, firstItemIndex, generation };
  const list = mergeSorted(existing, page);
  return {
    ...base,
    list,
    firstItemIndex: withPrepended(base, list),
    loaded: true,
    loading: false,
    hasOlder,
    error: undefined,
  };
}

/** Merges an older page (asked for with ?before=<oldest id>, newest first). */
export function applyOlderPage(conv: ConvMessages, newestFirst: readonly Message[], limit = PAGE_SIZE): ConvMessages {
  const list = mergeSorted(conv.list, chronological(newestFirst));
  return {
    ...conv,
    list,
    firstItemIndex: withPrepended(conv, list),
    hasOlder: newestFirst.length >= limit,
    loadingOlder: false,
  };
}

/**
 * Applies a message from a live event or a POST answer. New messages are
 * inserted unless they fall before the loaded window (they will come with
 * an older page); known ones are updated.
 */
export function applyLiveMessage(conv: ConvMessages, msg: Message): ConvMessages {
  const known = conv.list.some((m) => m.id === msg.id);
  if (!known && conv.hasOlder && conv.list.length > 0 && messageTime(msg) < messageTime(conv.list[0])) {
    return conv;
  }
  const list = mergeSorted(conv.list, [msg]);
  if (list === conv.list) return conv;
  return { ...conv, list, firstItemIndex: withPrepended(conv, list) };
}

/** Changes one message in place (e.g. an optimistic reaction); unknown ids change nothing. */
export function updateMessage(conv: ConvMessages, id: string, f: (m: Message) => Message): ConvMessages {
  const at = conv.list.findIndex((m) => m.id === id);
  if (at < 0) return conv;
  const list = conv.list.slice();
  list[at] = f(list[at]);
  return { ...conv, list };
}
