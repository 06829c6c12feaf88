import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { TypingSender } from "../lib/typing";

describe("TypingSender", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("sends typing:true at most every 3 s while typing", () => {
    const sent: boolean[] = [];
    const t = new TypingSender((x) => sent.push(x));
    t.input("h");
    expect(sent).toEqual([true]);
    vi.advanceTimersByTime(1000);
    t.input("he");
    vi.advanceTimersByTime(1000);
    t.input("hel");
    expect(sent).toEqual([true]);
    vi.advanceTimersByTime(1000); // 3 s since the first
    t.input("hell");
    expect(sent).toEqual([true, true]);
  });

  it("sends typing:false after 5 s idle, once", () => {
    const sent: boolean[] = [];
    const t = new TypingSender((x) => sent.push(x));
    t.input("h");
    vi.advanceTimersByTime(4999);
    expect(sent).toEqual([true]);
    vi.advanceTimersByTime(1);
    expect(sent).toEqual([true, false]);
    vi.advanceTimersByTime(10_000);
    expect(sent).toEqual([true, false]);
    expect(t.isTyping).toBe(false);
  });

  it("each keystroke pushes the idle deadline back", () => {
    const sent: boolean[] = [];
    const t = new TypingSender((x) => sent.push(x));
    t.input("a");
    vi.advanceTimersByTime(4000);
    t.input("ab");
    vi.advanceTimersByTime(4000);
    expect(sent).toEqual([true, true]); // second true: 4 s > 3 s throttle
    vi.advanceTimersByTime(1000);
    expect(sent).toEqual([true, true, false]);
  });

  it("stop (on send) sends typing:false immediately, and only when typing", () => {
    const sent: boolean[] = [];
    const t = new TypingSender((x) => sent.push(x));
    t.stop();
    expect(sent).toEqual([]);
    t.input("hi");
    t.stop();
    expect(sent).toEqual([true, false]);
    vi.advanceTimersByTime(10_000);
    expect(sent).toEqual([true, false]);
    t.input("again"); // typing again right after a send is announced at once
    expect(sent).toEqual([true, false, true]);
  });

  it("clearing the text counts as stopping", () => {
    const sent: boolean[] = [];
    const t = new TypingSender((x) => sent.push(x));
    t.input("x");
    t.input("   ");
    expect(sent).toEqual([true, false]);
  });
});
