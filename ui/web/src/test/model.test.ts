import { describe, expect, it } from "vitest";
import {
  conversationsWithContact,
  conversationsWithMessage,
  conversationsWithUnread,
  displayOrder,
  isIdentityChangeNotice,
  neighbour,
  splitConversations,
  switcherMatches,
  withContacts,
} from "../model";
import { contact, conversation, msg } from "./fixtures";

const list = [
  conversation({ contact: { id: "a", name: "Alice" }, last: msg({ contact: "a", min: 10 }) }),
  conversation({ contact: { id: "b", name: "Bob" }, last: msg({ contact: "b", min: 5 }) }),
  conversation({ contact: { id: "r", name: "Rita", state: "request" } }),
];

describe("conversation list", () => {
  it("moves a conversation with a new message to the top and counts it unread", () => {
    const m = msg({ contact: "b", min: 20, text: "yo" });
    const next = conversationsWithMessage(list, "b", m, { isNew: true })!;
    expect(next.map((c) => c.contact.id)).toEqual(["b", "a", "r"]);
    expect(next[0].last?.text).toBe("yo");
    expect(next[0].unread).toBe(1);
    expect(list[1].unread).toBe(0); // not mutated
  });

  it("does not count messages in the open, focused conversation, nor my own", () => {
    const incoming = msg({ contact: "b", min: 20 });
    expect(conversationsWithMessage(list, "b", incoming, { isNew: true, open: true })![0].unread).toBe(0);
    const mine = msg({ contact: "b", min: 20, outgoing: true });
    expect(conversationsWithMessage(list, "b", mine, { isNew: true })![0].unread).toBe(0);
  });

  it("takes the server's unread count when the event has one", () => {
    const next = conversationsWithMessage(list, "a", msg({ contact: "a", min: 30 }), { isNew: true, unread: 7 })!;
    expect(next[0].unread).toBe(7);
  });

  it("updates the preview for a state change without reordering", () => {
    const last = list[1].last!;
    const next = conversationsWithMessage(list, "b", { ...last, text: "changed" }, { isNew: false })!;
    expect(next.map((c) => c.contact.id)).toEqual(["a", "b", "r"]);
    expect(next[1].last?.text).toBe("changed");
  });

  it("answers null for an unknown contact (the list is refetched)", () => {
    expect(conversationsWithMessage(list, "zzz", msg(), { isNew: true })).toBeNull();
  });

  it("replaces contacts and sets unread counts", () => {
    const next = conversationsWithContact(list, contact({ id: "b", name: "Bob", verified: true }));
    expect(next[1].contact.verified).toBe(true);
    expect(conversationsWithUnread(list, "a", 3)[0].unread).toBe(3);
    const added = conversationsWithContact(list, contact({ id: "new", name: "Nina" }));
    expect(added[0].contact.id).toBe("new");
  });

  it("lists requests separately, and adds contacts that have no conversation yet", () => {
    const { requests, direct } = splitConversations(list);
    expect(requests.map((c) => c.contact.id)).toEqual(["r"]);
    expect(direct.map((c) => c.contact.id)).toEqual(["a", "b"]);
    expect(displayOrder(list).map((c) => c.contact.id)).toEqual(["r", "a", "b"]);
    const more = withContacts(list, [contact({ id: "a" }), contact({ id: "z", name: "Zed", added_at: "2020-01-01T00:00:00Z" })]);
    expect(more.map((c) => c.contact.id)).toContain("z");
    expect(more).toHaveLength(4);
  });

  it("moves with Alt+Up/Down in display order and wraps around", () => {
    expect(neighbour(list, "r", 1)).toBe("a");
    expect(neighbour(list, "b", 1)).toBe("r");
    expect(neighbour(list, "r", -1)).toBe("b");
    expect(neighbour(list, null, 1)).toBe("r");
    expect(neighbour([], null, 1)).toBeNull();
  });

  it("quick switcher matches names case-insensitively, prefixes first", () => {
    const l = [
      conversation({ contact: { id: "1", name: "Mallory" } }),
      conversation({ contact: { id: "2", name: "Alice" } }),
      conversation({ contact: { id: "3", name: "Al" } }),
    ];
    expect(switcherMatches(l, "al").map((c) => c.contact.name)).toEqual(["Alice", "Al", "Mallory"]);
    expect(switcherMatches(l, "ICE").map((c) => c.contact.name)).toEqual(["Alice"]);
    expect(switcherMatches(l, "")).toHaveLength(3);
  });

  it("recognises identity-change notices", () => {
    expect(isIdentityChangeNotice(msg({ kind: "notice", text: "Your safety number with Alice changed" }))).toBe(true);
    expect(isIdentityChangeNotice(msg({ kind: "notice", text: "safety number changed" }))).toBe(true);
    expect(isIdentityChangeNotice(msg({ kind: "notice", text: "Alice accepted your request" }))).toBe(false);
    expect(isIdentityChangeNotice(msg({ kind: "text", text: "my safety number changed lol" }))).toBe(false);
  });
});
