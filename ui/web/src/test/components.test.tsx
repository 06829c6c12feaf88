// @vitest-environment jsdom
import { act, cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Composer } from "../components/Composer";
import { Onboarding } from "../components/Onboarding";
import { Unlock } from "../components/Unlock";
import { DeliveryTick } from "../components/DeliveryTick";
import { drafts } from "../lib/drafts";
import { store } from "../store";
import { initialModel } from "../model";
import { MessageRow } from "../components/MessageRow";
import { ConversationList } from "../components/ConversationList";
import { ConnectionChip } from "../components/MessagePane";
import { buildRows } from "../lib/grouping";
import { conversation, msg } from "./fixtures";

type Handler = (url: string, init?: RequestInit) => { status: number; body: unknown };

function stubFetch(handler: Handler) {
  const fn = vi.fn(async (url: string, init?: RequestInit) => {
    const r = handler(url, init);
    return new Response(JSON.stringify(r.body), { status: r.status, headers: { "Content-Type": "application/json" } });
  });
  vi.stubGlobal("fetch", fn);
  return fn;
}
const calls = (f: ReturnType<typeof stubFetch>, path: string) => f.mock.calls.filter((c) => c[0] === path);

beforeEach(() => {
  store.set(initialModel());
  sessionStorage.clear();
  vi.stubGlobal("requestAnimationFrame", (cb: FrameRequestCallback) => setTimeout(() => cb(0), 0));
});
afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("Onboarding", () => {
  function fill(name: string, pass: string, confirm: string) {
    fireEvent.change(screen.getByTestId("setup-name"), { target: { value: name } });
    fireEvent.change(screen.getByTestId("setup-passphrase"), { target: { value: pass } });
    fireEvent.change(screen.getByTestId("setup-passphrase-confirm"), { target: { value: confirm } });
    fireEvent.click(screen.getByTestId("setup-submit"));
  }

  it("refuses a weak passphrase with a clear message and does not call the API", () => {
    const f = stubFetch(() => ({ status: 200, body: {} }));
    render(<Onboarding />);
    fill("Alice", "password1", "password1");
    expect(screen.getByTestId("setup-error").textContent).toMatch(/too weak/i);
    expect(screen.getByTestId("setup-strength").textContent).toMatch(/Too weak/);
    expect(f).not.toHaveBeenCalled();
  });

  it("refuses when the two passphrases differ", () => {
    const f = stubFetch(() => ({ status: 200, body: {} }));
    render(<Onboarding />);
    fill("Alice", "correct horse battery staple", "correct horse battery stapel");
    expect(screen.getByTestId("setup-error").textContent).toMatch(/don't match/);
    expect(f).not.toHaveBeenCalled();
  });

  it("posts /api/setup with a strong, confirmed passphrase", async () => {
    const f = stubFetch(() => ({ status: 200, body: { state: "starting" } }));
    render(<Onboarding />);
    fill("Alice", "correct horse battery staple", "correct horse battery staple");
    await waitFor(() => expect(calls(f, "/api/setup")).toHaveLength(1));
    expect(JSON.parse(calls(f, "/api/setup")[0][1]!.body as string)).toEqual({
      passphrase: "correct horse battery staple",
      display_name: "Alice",
    });
    await waitFor(() => expect(store.get().app?.state).toBe("starting"));
  });
});

describe("Unlock", () => {
  it("shows the wrong-passphrase message and keeps focus in the field", async () => {
    stubFetch(() => ({ status: 422, body: { error: "wrong passphrase", code: "wrong_passphrase" } }));
    render(<Unlock />);
    const input = screen.getByTestId("unlock-passphrase") as HTMLInputElement;
    fireEvent.change(input, { target: { value: "nope" } });
    fireEvent.submit(input.form!);
    await waitFor(() => expect(screen.getByTestId("unlock-error").textContent).toBe("Wrong passphrase. Try again."));
    await waitFor(() => expect(document.activeElement).toBe(input));
  });
});

describe("Composer", () => {
  const props = { contactId: "c1", contactName: "Alice", disabled: null, replyTo: null, replyName: "", onCancelReply: () => {} };

  it("sends on Enter, not on Shift+Enter, and clears the draft after sending", async () => {
    const f = stubFetch((url) =>
      url.endsWith("/messages")
        ? { status: 200, body: { message: { id: "m1", contact: "c1", kind: "text", outgoing: true, sent_at: new Date().toISOString(), text: "hi", state: "sending" } } }
        : { status: 200, body: {} },
    );
    render(<Composer {...props} />);
    const ta = screen.getByTestId("composer") as HTMLTextAreaElement;
    fireEvent.change(ta, { target: { value: "hi" } });
    fireEvent.keyDown(ta, { key: "Enter", shiftKey: true });
    expect(calls(f, "/api/conversations/c1/messages")).toHaveLength(0);
    fireEvent.keyDown(ta, { key: "Enter" });
    await waitFor(() => expect(calls(f, "/api/conversations/c1/messages")).toHaveLength(1));
    expect(JSON.parse(calls(f, "/api/conversations/c1/messages")[0][1]!.body as string)).toEqual({ text: "hi" });
    await waitFor(() => expect(ta.value).toBe(""));
    expect(drafts.get("c1")).toBe("");
  });

  it("keeps the text and shows the error when sending fails", async () => {
    stubFetch((url) =>
      url.endsWith("/messages") ? { status: 409, body: { error: "blocked", code: "blocked" } } : { status: 200, body: {} },
    );
    render(<Composer {...props} />);
    const ta = screen.getByTestId("composer") as HTMLTextAreaElement;
    fireEvent.change(ta, { target: { value: "don't lose me" } });
    fireEvent.keyDown(ta, { key: "Enter" });
    await waitFor(() => expect(screen.getByTestId("composer-error").textContent).toMatch(/blocked/i));
    expect(ta.value).toBe("don't lose me");
    expect(drafts.get("c1")).toBe("don't lose me");
  });

  it("refuses a message over 8 KiB before sending and shows the counter", async () => {
    const f = stubFetch(() => ({ status: 200, body: {} }));
    render(<Composer {...props} />);
    const ta = screen.getByTestId("composer") as HTMLTextAreaElement;
    fireEvent.change(ta, { target: { value: "€".repeat(2731) } }); // 8193 bytes
    expect(screen.getByTestId("composer-counter").textContent).toMatch(/8,?193/);
    fireEvent.keyDown(ta, { key: "Enter" });
    await act(async () => {});
    expect(calls(f, "/api/conversations/c1/messages")).toHaveLength(0);
    expect(screen.getByTestId("composer-error").textContent).toBe("Message is too long (8 KiB max)");
  });

  it("restores the draft of a conversation", () => {
    stubFetch(() => ({ status: 200, body: {} }));
    drafts.set("c9", "unfinished");
    render(<Composer {...props} contactId="c9" />);
    expect((screen.getByTestId("composer") as HTMLTextAreaElement).value).toBe("unfinished");
  });
});

describe("DeliveryTick", () => {
  it("exposes the state and the failure title", () => {
    render(<DeliveryTick state="failed" />);
    const t = screen.getByTestId("delivery-tick");
    expect(t.getAttribute("data-state")).toBe("failed");
    expect(t.getAttribute("title")).toBe("Not delivered");
  });
});

describe("MessageRow", () => {
  it("exposes the test hooks: ids, direction, state, reply quote, reactions and actions", () => {
    const orig = msg({ id: "orig", text: "the original words" });
    const reply = msg({
      id: "r1",
      outgoing: true,
      state: "read",
      reply_to: "orig",
      text: "my answer",
      reactions: [
        { emoji: "👍", mine: true },
        { emoji: "👍", mine: false },
      ],
    });
    const [, row] = buildRows([orig, reply]);
    const onToggle = vi.fn();
    const onReply = vi.fn();
    render(
      <MessageRow row={row} name="Me" seed="me" quoted={orig} quotedName="Alice" onReact={() => {}} onReply={onReply} onToggleReaction={onToggle} />,
    );
    const el = screen.getByTestId("message");
    expect(el.getAttribute("data-message-id")).toBe("r1");
    expect(el.getAttribute("data-outgoing")).toBe("true");
    expect(el.getAttribute("data-state")).toBe("read");
    expect(screen.getByTestId("message-text").textContent).toBe("my answer");
    expect(screen.getByTestId("reply-quote").textContent).toContain("the original words");
    expect(screen.getByTestId("delivery-tick").getAttribute("data-state")).toBe("read");
    const chip = screen.getByTestId("reaction");
    expect(chip.getAttribute("data-emoji")).toBe("👍");
    expect(chip.textContent).toContain("2");
    fireEvent.click(chip);
    expect(onToggle).toHaveBeenCalledWith(reply, "👍");
    fireEvent.click(screen.getByTestId("reply-button"));
    expect(onReply).toHaveBeenCalledWith(reply);
    expect(screen.getByTestId("react-button")).toBeTruthy();
  });

  it("renders notices centred with their own hook", () => {
    const [row] = buildRows([msg({ kind: "notice", text: "safety number changed" })]);
    render(<MessageRow row={row} name="" seed="" quoted={undefined} quotedName="" onReact={() => {}} onReply={() => {}} onToggleReaction={() => {}} />);
    expect(screen.getByTestId("notice").textContent).toContain("safety number changed");
    expect(screen.queryByTestId("message")).toBeNull();
    expect(screen.getByTestId("day-separator")).toBeTruthy();
  });
});

describe("ConversationList", () => {
  it("lists requests separately and shows unread badges", () => {
    store.set({
      conversationsLoaded: true,
      conversations: [
        conversation({ contact: { id: "a", name: "Alice" }, unread: 3 }),
        conversation({ contact: { id: "r", name: "Rita", state: "request" }, unread: 1 }),
      ],
    });
    render(<ConversationList />);
    const items = screen.getAllByTestId("conversation-item");
    expect(items.map((i) => i.getAttribute("data-contact-name"))).toEqual(["Rita", "Alice"]);
    expect(items[1].getAttribute("data-contact-id")).toBe("a");
    expect(items[1].querySelector('[data-testid="unread-badge"]')?.textContent).toBe("3");
    expect(screen.getByText(/Message requests/)).toBeTruthy();
  });
});

describe("ConnectionChip", () => {
  const net = (contacts: unknown[]) =>
    ({ peer_id: "me", addrs: [], invite: "", peers: [], routing_table: 0, dht_ready: true, bootstrap: [], nat: { reachability: "private", nat: "symmetric", nat_reason: "", contacts } }) as never;

  it("shows nothing until the node reports the contact", () => {
    render(<ConnectionChip peer="12D3Bob" />);
    expect(screen.queryByTestId("conversation-path")).toBeNull();
  });

  it("says a relayed path, with the reason as its tooltip", () => {
    store.set({ ...initialModel(), network: net([{ name: "Bob", peer: "12D3Bob", path: "relayed", relay: "12D3R", reason: "through relay R" }]) });
    render(<ConnectionChip peer="12D3Bob" />);
    const chip = screen.getByTestId("conversation-path");
    expect(chip.textContent).toBe("Relayed");
    expect(chip.getAttribute("title")).toBe("through relay R");
  });

  it("warns when a relay cut the connection", () => {
    store.set({ ...initialModel(), network: net([{ name: "Bob", peer: "12D3Bob", path: "none", cut: true, reason: "was cut at 10:00:00" }]) });
    render(<ConnectionChip peer="12D3Bob" />);
    const chip = screen.getByTestId("conversation-path");
    expect(chip.textContent).toMatch(/cut/);
    expect(chip.dataset.cut).toBe("true");
    expect(chip.className).toMatch(/warn/);
  });

  it("names a direct transport", () => {
    store.set({ ...initialModel(), network: net([{ name: "Bob", peer: "12D3Bob", path: "hole-punched", transport: "QUIC", reason: "" }]) });
    render(<ConnectionChip peer="12D3Bob" />);
    expect(screen.getByTestId("conversation-path").textContent).toBe("Direct · hole-punched · QUIC");
  });
});
