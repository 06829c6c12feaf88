import { describe, expect, it } from "vitest";
import type { Reaction } from "../api";
import { isRemoval, summarizeReactions, toggleReaction } from "../lib/reactions";

const list: Reaction[] = [
  { emoji: "👍", mine: false },
  { emoji: "❤️", mine: true },
  { emoji: "👍", mine: true },
  { emoji: "👍", mine: false },
];

describe("reactions", () => {
  it("counts reactions per emoji in order of first appearance and marks mine", () => {
    expect(summarizeReactions(list)).toEqual([
      { emoji: "👍", count: 3, mine: true },
      { emoji: "❤️", count: 1, mine: true },
    ]);
    expect(summarizeReactions([{ emoji: "😂", mine: false }])).toEqual([{ emoji: "😂", count: 1, mine: false }]);
    expect(summarizeReactions(undefined)).toEqual([]);
  });

  it("clicking a chip with my reaction removes it, otherwise adds", () => {
    expect(isRemoval(list, "👍")).toBe(true);
    expect(isRemoval([{ emoji: "👍", mine: false }], "👍")).toBe(false);
    expect(isRemoval(undefined, "👍")).toBe(false);
  });

  it("toggling removes only my reaction and leaves others", () => {
    const after = toggleReaction(list, "👍");
    expect(summarizeReactions(after)).toEqual([
      { emoji: "👍", count: 2, mine: false },
      { emoji: "❤️", count: 1, mine: true },
    ]);
    expect(list).toHaveLength(4); // not mutated
  });

  it("toggling adds mine when absent", () => {
    const after = toggleReaction([{ emoji: "😂", mine: false }], "😂");
    expect(summarizeReactions(after)).toEqual([{ emoji: "😂", count: 2, mine: true }]);
    expect(toggleReaction(undefined, "🎉")).toEqual([{ emoji: "🎉", mine: true }]);
  });
});
