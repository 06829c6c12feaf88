import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ApiEvent } from "../api";
import { eventsURL } from "../api";
import { EventStream } from "../events";

class FakeWS {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;
  static all: FakeWS[] = [];
  readyState = 0;
  onopen: (() => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onmessage: ((e: { data: unknown }) => void) | null = null;
  constructor(public url: string) {
    FakeWS.all.push(this);
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  send(data: unknown) {
    this.onmessage?.({ data: typeof data === "string" ? data : JSON.stringify(data) });
  }
  fail() {
    this.readyState = 3;
    this.onclose?.();
  }
  close() {
    this.readyState = 3;
  }
}

function setup() {
  const events: ApiEvent[] = [];
  const status: string[] = [];
  const s = new EventStream({
    url: () => "ws://127.0.0.1:1/api/events",
    onEvent: (e) => events.push(e),
    onStatus: (x) => status.push(x),
    WebSocketImpl: FakeWS as unknown as typeof WebSocket,
  });
  return { s, events, status };
}

describe("EventStream", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeWS.all = [];
  });
  afterEach(() => vi.useRealTimers());

  it("builds the same-origin WebSocket address", () => {
    expect(eventsURL({ protocol: "http:", host: "127.0.0.1:4321" })).toBe("ws://127.0.0.1:4321/api/events");
  });

  it("delivers parsed events and skips garbage", () => {
    const { s, events, status } = setup();
    s.start();
    const ws = FakeWS.all[0];
    ws.open();
    ws.send({ type: "hello", state: { state: "running" } });
    ws.send("not json");
    ws.send({ nope: 1 });
    ws.send({ type: "chat", kind: "typing", contact: "c1", typing: true });
    expect(status).toEqual(["open"]);
    expect(events.map((e) => e.type)).toEqual(["hello", "chat"]);
    expect(s.connected).toBe(true);
  });

  it("reconnects with growing delays: 250, 500, 1000 ms …", () => {
    const { s, status } = setup();
    s.start();
    FakeWS.all[0].fail();
    expect(status).toEqual(["closed"]);
    vi.advanceTimersByTime(249);
    expect(FakeWS.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeWS.all).toHaveLength(2);
    FakeWS.all[1].fail();
    vi.advanceTimersByTime(499);
    expect(FakeWS.all).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(FakeWS.all).toHaveLength(3);
    FakeWS.all[2].fail();
    vi.advanceTimersByTime(1000);
    expect(FakeWS.all).toHaveLength(4);
  });

  it("resets the delay after a hello", () => {
    const { s } = setup();
    s.start();
    FakeWS.all[0].fail();
    vi.advanceTimersByTime(250);
    FakeWS.all[1].fail();
    vi.advanceTimersByTime(500);
    const ws = FakeWS.all[2];
    ws.open();
    ws.send({ type: "hello", state: { state: "running" } });
    ws.fail();
    vi.advanceTimersByTime(250);
    expect(FakeWS.all).toHaveLength(4);
  });

  it("reconnectNow skips the wait; stop ends everything", () => {
    const { s } = setup();
    s.start();
    FakeWS.all[0].fail();
    s.reconnectNow();
    expect(FakeWS.all).toHaveLength(2);
    s.stop();
    FakeWS.all[1].fail();
    vi.advanceTimersByTime(60_000);
    expect(FakeWS.all).toHaveLength(2);
  });
});
