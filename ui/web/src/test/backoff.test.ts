import { describe, expect, it } from "vitest";
import { Backoff } from "../lib/backoff";

describe("Backoff", () => {
  it("starts at 250 ms and doubles up to 5 s", () => {
    const b = new Backoff();
    const d = Array.from({ length: 8 }, () => b.next());
    expect(d).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
  });

  it("starts over after reset", () => {
    const b = new Backoff();
    b.next();
    b.next();
    b.next();
    expect(b.attempts).toBe(3);
    b.reset();
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(250);
  });

  it("does not overflow after many attempts", () => {
    const b = new Backoff();
    for (let i = 0; i < 1000; i++) b.next();
    expect(b.next()).toBe(5000);
  });
});
