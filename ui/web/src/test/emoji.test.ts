import { describe, expect, it } from "vitest";
import { ALL_EMOJI, EMOJI_CATEGORIES, QUICK_REACTIONS } from "../lib/emoji";
import { notificationBody } from "../lib/notify";

describe("emoji set", () => {
  it("has about 80 unique emoji in a few categories, quick reactions included", () => {
    expect(ALL_EMOJI.length).toBeGreaterThanOrEqual(70);
    expect(new Set(ALL_EMOJI).size).toBe(ALL_EMOJI.length);
    expect(EMOJI_CATEGORIES.length).toBeGreaterThanOrEqual(3);
    for (const q of QUICK_REACTIONS) expect(ALL_EMOJI).toContain(q);
  });
});

describe("notification body", () => {
  it("hides the content when asked", () => {
    expect(notificationBody("secret plans", false)).toBe("New message");
    expect(notificationBody("  hi\n there ", true)).toBe("hi there");
    expect(notificationBody("x".repeat(500), true).length).toBeLessThanOrEqual(140);
  });
});

import { parseBootstrap } from "../lib/settings";

describe("bootstrap list", () => {
  it("takes one multiaddr per line, trimming blanks and duplicates", () => {
    expect(parseBootstrap(" /ip4/1.2.3.4/tcp/1/p2p/A \n\n/dns4/x/tcp/2/p2p/B\r\n/ip4/1.2.3.4/tcp/1/p2p/A\n")).toEqual([
      "/ip4/1.2.3.4/tcp/1/p2p/A",
      "/dns4/x/tcp/2/p2p/B",
    ]);
    expect(parseBootstrap("")).toEqual([]);
  });
});
