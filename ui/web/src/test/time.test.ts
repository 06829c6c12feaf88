import { describe, expect, it } from "vitest";
import { dayKey, dayLabel, headerTime, messageTime, ms } from "../lib/time";

describe("time", () => {
  const now = new Date(2025, 0, 1, 0, 30).getTime(); // just after midnight, 1 January

  it("labels today, yesterday across a year boundary, and older dates", () => {
    expect(dayLabel(new Date(2025, 0, 1, 0, 5).getTime(), now)).toBe("Today");
    expect(dayLabel(new Date(2024, 11, 31, 23, 59).getTime(), now)).toBe("Yesterday");
    const older = dayLabel(new Date(2024, 11, 30, 12).getTime(), now);
    expect(older).not.toBe("Yesterday");
    expect(older).toMatch(/2024/);
  });

  it("uses the local calendar day", () => {
    expect(dayKey(new Date(2025, 5, 9, 23, 59))).toBe("2025-06-09");
  });

  it("places incoming messages by received time and outgoing by sent time", () => {
    const base = { sent_at: "2025-01-01T10:00:00Z", received_at: "2025-01-01T10:05:00Z" };
    expect(messageTime({ ...base, outgoing: false })).toBe(Date.parse(base.received_at));
    expect(messageTime({ ...base, outgoing: true })).toBe(Date.parse(base.sent_at));
    expect(messageTime({ sent_at: base.sent_at, outgoing: false })).toBe(Date.parse(base.sent_at));
  });

  it("reads bad times as 0 instead of NaN", () => {
    expect(ms("not a time")).toBe(0);
    expect(ms(undefined)).toBe(0);
  });

  it("prefixes header times with Today/Yesterday", () => {
    expect(headerTime(new Date(2025, 0, 1, 0, 10).getTime(), now)).toMatch(/^Today at /);
    expect(headerTime(new Date(2024, 11, 31, 8).getTime(), now)).toMatch(/^Yesterday at /);
  });
});
