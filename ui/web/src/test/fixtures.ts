import type { Contact, Conversation, Message } from "../api";

let seq = 0;
/** A message at `min` minutes after a fixed base time (local). */
export function msg(p: Partial<Message> & { min?: number } = {}): Message {
  const base = new Date(2025, 2, 4, 12, 0, 0).getTime();
  const { min = 0, ...rest } = p;
  const t = new Date(base + min * 60_000).toISOString();
  seq++;
  return {
    id: rest.id ?? `m${String(seq).padStart(31, "0")}`,
    contact: "c1",
    kind: "text",
    outgoing: false,
    sent_at: t,
    received_at: rest.outgoing ? undefined : t,
    text: "hello " + seq,
    ...rest,
  };
}

export function contact(p: Partial<Contact> = {}): Contact {
  return {
    id: p.id ?? "c1",
    peer: "12D3KooWExamplePeer" + (p.id ?? "c1"),
    name: "Alice",
    state: "accepted",
    verified: false,
    added_at: "2025-03-01T10:00:00Z",
    ...p,
  };
}

export function conversation(p: Partial<Omit<Conversation, "contact">> & { contact?: Partial<Contact> } = {}): Conversation {
  return { unread: 0, ...p, contact: contact(p.contact) };
}
