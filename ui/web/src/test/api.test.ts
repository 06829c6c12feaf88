import { afterEach, describe, expect, it, vi } from "vitest";
import { api, ApiError, setUnauthorizedHandler } from "../api";
import { humanError } from "../lib/errors";

function mockFetch(status: number, body: unknown, raw = false) {
  const fn = vi.fn(async (_url: string, _init?: RequestInit) =>
    new Response(raw ? (body as string) : JSON.stringify(body), {
      status,
      headers: { "Content-Type": raw ? "text/html" : "application/json" },
    }),
  );
  vi.stubGlobal("fetch", fn);
  return fn;
}

describe("api", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    setUnauthorizedHandler(null);
  });

  it("throws ApiError with the server's code, status and sentence", async () => {
    mockFetch(422, { error: "wrong passphrase", code: "wrong_passphrase" });
    const err = await api.unlock("nope").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).code).toBe("wrong_passphrase");
    expect((err as ApiError).status).toBe(422);
    expect((err as ApiError).message).toBe("wrong passphrase");
  });

  it("falls back to the status when the body is not JSON", async () => {
    mockFetch(500, "<html>oops</html>", true);
    const err = (await api.state().catch((e: unknown) => e)) as ApiError;
    expect(err.code).toBe("internal");
    expect(err.message).toMatch(/went wrong/);
  });

  it("calls the unauthorized handler on 401", async () => {
    mockFetch(401, { error: "not signed in", code: "unauthorized" });
    const h = vi.fn();
    setUnauthorizedHandler(h);
    await expect(api.conversations()).rejects.toThrow();
    expect(h).toHaveBeenCalledOnce();
  });

  it("reports an unreachable server as code network", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => Promise.reject(new TypeError("Failed to fetch"))));
    const err = (await api.state().catch((e: unknown) => e)) as ApiError;
    expect(err.code).toBe("network");
    expect(humanError(err)).toMatch(/reach DiscordOpus/);
  });

  it("sends JSON bodies and encodes paths and queries", async () => {
    const f = mockFetch(200, { messages: [] });
    await api.messages("Alice Smith", { before: "abc", limit: 100 });
    expect(f.mock.calls[0][0]).toBe("/api/conversations/Alice%20Smith/messages?before=abc&limit=100");
    mockFetch(200, { message: {} });
    const g = mockFetch(200, { message: {} });
    await api.send("c1", "hi", "r1");
    const init = g.mock.calls[0][1]!;
    expect(init.method).toBe("POST");
    expect(JSON.parse(init.body as string)).toEqual({ text: "hi", reply_to: "r1" });
    expect((init.headers as Record<string, string>)["Content-Type"]).toBe("application/json");
  });

  it("only sends replace and remove when set", async () => {
    const f = mockFetch(200, { contact: {} });
    await api.addContact("inv", "Bob");
    expect(JSON.parse(f.mock.calls[0][1]!.body as string)).toEqual({ invite: "inv", name: "Bob" });
    await api.addContact("inv", "Bob", true);
    expect(JSON.parse(f.mock.calls[1][1]!.body as string)).toEqual({ invite: "inv", name: "Bob", replace: true });
    await api.react("c1", "m1", "👍", true);
    expect(JSON.parse(f.mock.calls[2][1]!.body as string)).toEqual({ target: "m1", emoji: "👍", remove: true });
  });
});

describe("humanError", () => {
  it("uses the right words per place", () => {
    expect(humanError(new ApiError(422, "bad_invite", "invalid invite"), "addContact")).toBe(
      "That invite is not valid — check it was copied whole.",
    );
    expect(humanError(new ApiError(422, "too_long", "too long"), "send")).toBe("Message is too long (8 KiB max)");
    expect(humanError(new ApiError(409, "whatever", "The server's sentence."), "send")).toBe("The server's sentence.");
  });
});

describe("nameContacts", () => {
  it("names unnamed contacts by the end of their PeerID, wherever the answer has them", async () => {
    const { nameContacts, shortPeer } = await import("../api");
    const peer = "12D3KooWMFyhLAicrKA3wfwCMMSNo7v9jk5ammQXgtfKXfjC5EPM";
    const named = { id: "1", peer, name: "Dave" };
    const out = {
      contact: { id: "2", peer, name: "" },
      contacts: [{ id: "3", peer, name: "" }, named],
      conversations: [{ contact: { id: "4", peer, name: "" }, unread: 1 }],
    };
    nameContacts(out);
    expect(shortPeer(peer)).toBe("…XfjC5EPM");
    expect(out.contact.name).toBe(shortPeer(peer));
    expect(out.contacts.map((c) => c.name)).toEqual([shortPeer(peer), "Dave"]);
    expect(out.conversations[0].contact.name).toBe(shortPeer(peer));
    nameContacts(null);
    nameContacts({ state: "running" });
  });
});
