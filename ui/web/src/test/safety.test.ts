import { describe, expect, it } from "vitest";
import { base64ToBytes, formatSafetyNumber, safetyGroups } from "../lib/safety";

const SN = "123456789012345678901234567890123456789012345678901234567890";

describe("safety numbers", () => {
  it("splits 60 digits into 12 groups of 5", () => {
    const g = safetyGroups(SN);
    expect(g).toHaveLength(12);
    expect(g.every((x) => x.length === 5)).toBe(true);
    expect(g[0]).toBe("12345");
    expect(g[11]).toBe("67890");
  });

  it("formats with single spaces and ignores existing separators", () => {
    const f = formatSafetyNumber(SN);
    expect(f.split(" ")).toHaveLength(12);
    expect(f.startsWith("12345 67890 12345")).toBe(true);
    expect(formatSafetyNumber(f)).toBe(f);
    expect(formatSafetyNumber("12345-67890\n11111")).toBe("12345 67890 11111");
  });

  it("decodes standard and URL-safe base64, with or without padding", () => {
    expect([...base64ToBytes("AAEC/w==")]).toEqual([0, 1, 2, 255]);
    expect([...base64ToBytes("AAEC_w")]).toEqual([0, 1, 2, 255]);
    expect([...base64ToBytes("")]).toEqual([]);
  });
});
