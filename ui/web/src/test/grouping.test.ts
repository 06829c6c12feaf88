import { describe, expect, it } from "vitest";
import { buildRows, GROUP_GAP_MS } from "../lib/grouping";
import { msg } from "./fixtures";

const NOW = new Date(2025, 2, 4, 18, 0, 0).getTime();

describe("buildRows", () => {
  it("groups messages from the same sender within 5 minutes under one header", () => {
    const rows = buildRows([msg({ min: 0 }), msg({ min: 1 }), msg({ min: 5 })], NOW);
    expect(rows.map((r) => r.groupStart)).toEqual([true, false, false]);
  });

  it("starts a new group after a gap of more than 5 minutes", () => {
    const rows = buildRows([msg({ min: 0 }), msg({ min: 5.1 })], NOW);
    expect(rows.map((r) => r.groupStart)).toEqual([true, true]);
    expect(GROUP_GAP_MS).toBe(300_000);
  });

  it("starts a new group when the sender changes", () => {
    const rows = buildRows([msg({ min: 0 }), msg({ min: 1, outgoing: true }), msg({ min: 2, outgoing: true }), msg({ min: 3 })], NOW);
    expect(rows.map((r) => r.groupStart)).toEqual([true, true, false, true]);
  });

  it("never groups notices and restarts the group after one", () => {
    const rows = buildRows([msg({ min: 0 }), msg({ min: 1, kind: "notice" }), msg({ min: 2 })], NOW);
    expect(rows.map((r) => r.groupStart)).toEqual([true, true, true]);
  });

  it("gives a reply its own header (the quote sits above it)", () => {
    const a = msg({ min: 0 });
    const rows = buildRows([a, msg({ min: 1, reply_to: a.id })], NOW);
    expect(rows[1].groupStart).toBe(true);
  });

  it("puts day separators at the first message and at each new day", () => {
    const rows = buildRows(
      [
        msg({ min: -2 * 24 * 60 }), // 2 March
        msg({ min: -24 * 60 }), // yesterday
        msg({ min: -24 * 60 + 1 }),
        msg({ min: 0 }), // today
      ],
      NOW,
    );
    expect(rows[0].day).toBeTruthy();
    expect(rows[0].day).toMatch(/2025/);
    expect(rows[1].day).toBe("Yesterday");
    expect(rows[2].day).toBeUndefined();
    expect(rows[3].day).toBe("Today");
    // a new day always starts a group, even from the same sender
    expect(rows[3].groupStart).toBe(true);
  });

  it("handles an empty list", () => {
    expect(buildRows([], NOW)).toEqual([]);
  });
});
