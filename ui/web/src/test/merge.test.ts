import { describe, expect, it } from "vitest";
import {
  applyLiveMessage,
  applyNewestPage,
  applyOlderPage,
  chronological,
  emptyConv,
  FIRST_INDEX,
  mergeSorted,
  updateMessage,
} from "../lib/merge";
import type { Message } from "../api";
import { msg } from "./fixtures";

const ids = (l: Message[]) => l.map((m) => m.id);
/** n messages one minute apart starting at minute `from`, chronological. */
const series = (n: number, from = 0, prefix = "s") =>
  Array.from({ length: n }, (_, i) => msg({ id: `${prefix}${from + i}`, min: from + i }));
const newestFirst = (l: Message[]) => [...l].reverse();

describe("chronological", () => {
  it("turns the API's newest-first page around without changing it", () => {
    const page = newestFirst(series(3));
    const copy = [...page];
    expect(ids(chronological(page))).toEqual(["s0", "s1", "s2"]);
    expect(page).toEqual(copy);
  });
});

describe("mergeSorted", () => {
  it("dedupes by id and keeps time order", () => {
    const a = series(3);
    const out = mergeSorted(a, [a[1], msg({ id: "new", min: 1.5 }), a[2]]);
    expect(ids(out)).toEqual(["s0", "s1", "new", "s2"]);
  });

  it("updates known messages in place and never downgrades delivery state", () => {
    const m = msg({ id: "x", outgoing: true, state: "delivered" });
    let out = mergeSorted([m], [{ ...m, state: "sent" }]);
    expect(out[0].state).toBe("delivered");
    out = mergeSorted(out, [{ ...m, state: "read", reactions: [{ emoji: "👍", mine: false }] }]);
    expect(out[0].state).toBe("read");
    expect(out[0].reactions).toHaveLength(1);
  });

  it("returns the same array when nothing changes", () => {
    const a = series(2);
    expect(mergeSorted(a, [])).toBe(a);
  });

  it("keeps equal times in arrival order", () => {
    const x = msg({ id: "x", min: 1 });
    const y = msg({ id: "y", min: 1 });
    expect(ids(mergeSorted([x], [y]))).toEqual(["x", "y"]);
  });
});

describe("conversation window", () => {
  it("loads the newest page and knows whether older pages exist", () => {
    const full = applyNewestPage(emptyConv(), newestFirst(series(100)), 100);
    expect(full.loaded).toBe(true);
    expect(full.hasOlder).toBe(true);
    expect(full.list[0].id).toBe("s0");
    expect(full.list[99].id).toBe("s99");
    const short = applyNewestPage(emptyConv(), newestFirst(series(10)), 100);
    expect(short.hasOlder).toBe(false);
  });

  it("prepends older pages and moves firstItemIndex down by the number added", () => {
    let c = applyNewestPage(emptyConv(), newestFirst(series(100, 100)), 100);
    expect(c.firstItemIndex).toBe(FIRST_INDEX);
    c = applyOlderPage(c, newestFirst(series(100, 0)), 100);
    expect(c.list).toHaveLength(200);
    expect(c.list[0].id).toBe("s0");
    expect(c.firstItemIndex).toBe(FIRST_INDEX - 100);
    expect(c.hasOlder).toBe(true);
    c = applyOlderPage(c, newestFirst(series(5, -5, "o")), 100);
    expect(c.hasOlder).toBe(false);
    expect(c.firstItemIndex).toBe(FIRST_INDEX - 105);
    expect(c.list[0].id).toBe("o-5");
  });

  it("appends live messages once even when the page brings them again", () => {
    let c = applyNewestPage(emptyConv(), newestFirst(series(3)), 100);
    const live = msg({ id: "live", min: 10 });
    c = applyLiveMessage(c, live);
    c = applyLiveMessage(c, live);
    expect(ids(c.list)).toEqual(["s0", "s1", "s2", "live"]);
    c = applyNewestPage(c, newestFirst([...series(3), live]), 100);
    expect(ids(c.list)).toEqual(["s0", "s1", "s2", "live"]);
  });

  it("keeps live messages that arrived while the first page was loading", () => {
    let c = { ...emptyConv(), loading: true };
    c = applyLiveMessage(c, msg({ id: "live", min: 500 }));
    c = applyNewestPage(c, newestFirst(series(100)), 100);
    expect(c.list).toHaveLength(101);
    expect(c.list[100].id).toBe("live");
  });

  it("applies state updates from events to loaded messages", () => {
    const out = msg({ id: "o", min: 1, outgoing: true, state: "sending" });
    let c = applyNewestPage(emptyConv(), [out], 100);
    c = applyLiveMessage(c, { ...out, state: "delivered" });
    expect(c.list[0].state).toBe("delivered");
    c = applyLiveMessage(c, { ...out, state: "sent" });
    expect(c.list[0].state).toBe("delivered");
  });

  it("ignores live updates for messages before the loaded window", () => {
    const c = applyNewestPage(emptyConv(), newestFirst(series(100, 100)), 100);
    const old = msg({ id: "ancient", min: 5 });
    expect(applyLiveMessage(c, old)).toBe(c);
  });

  it("on catch-up with a gap, drops the disconnected old messages and restarts the list", () => {
    let c = applyNewestPage(emptyConv(), newestFirst(series(50, 0)), 100);
    c = applyOlderPage(c, [], 100);
    const gen = c.generation;
    // reconnect: 100 new messages arrived meanwhile; none of the old ones are in the page
    c = applyNewestPage(c, newestFirst(series(100, 1000, "n")), 100);
    expect(c.list).toHaveLength(100);
    expect(c.list[0].id).toBe("n1000");
    expect(c.hasOlder).toBe(true);
    expect(c.generation).toBe(gen + 1);
    expect(c.firstItemIndex).toBe(FIRST_INDEX);
  });

  it("on catch-up without a gap, merges and keeps older messages", () => {
    let c = applyNewestPage(emptyConv(), newestFirst(series(100, 0)), 100);
    const gen = c.generation;
    c = applyNewestPage(c, newestFirst(series(100, 20)), 100); // overlaps s20..s99
    expect(c.list).toHaveLength(120);
    expect(c.list[0].id).toBe("s0");
    expect(c.list[119].id).toBe("s119");
    expect(c.generation).toBe(gen);
    expect(c.firstItemIndex).toBe(FIRST_INDEX);
  });

  it("changes a single message with updateMessage and ignores unknown ids", () => {
    const c = applyNewestPage(emptyConv(), newestFirst(series(2)), 100);
    const u = updateMessage(c, "s1", (m) => ({ ...m, text: "edited" }));
    expect(u.list[1].text).toBe("edited");
    expect(c.list[1].text).not.toBe("edited");
    expect(updateMessage(c, "nope", (m) => m)).toBe(c);
  });

  // Speed is measured by `make bench` (scrolling 10,000 messages), never
  // asserted here: these machines are shared and noisy.
  it("pages in 10,000 messages and then takes live ones", () => {
    let c = emptyConv();
    const all = series(10_000);
    for (let i = all.length; i > 0; i -= 100) {
      const page = newestFirst(all.slice(Math.max(0, i - 100), i));
      c = i === all.length ? applyNewestPage(c, page, 100) : applyOlderPage(c, page, 100);
    }
    expect(c.list).toHaveLength(10_000);
    for (let i = 0; i < 100; i++) c = applyLiveMessage(c, msg({ id: "L" + i, min: 20_000 + i }));
    expect(c.list).toHaveLength(10_100);
    expect(c.firstItemIndex).toBe(FIRST_INDEX - 9_900);
  });
});
