import { describe, expect, it } from "vitest";
import { COMMON_PASSWORDS, estimateStrength, MIN_SCORE, STRENGTH_WORDS } from "../lib/strength";

describe("passphrase strength", () => {
  it("has ~50 common passwords and five words from Too weak to Strong", () => {
    expect(COMMON_PASSWORDS.length).toBeGreaterThanOrEqual(50);
    expect(STRENGTH_WORDS[0]).toBe("Too weak");
    expect(STRENGTH_WORDS[4]).toBe("Strong");
  });

  it("scores an empty passphrase 0", () => {
    expect(estimateStrength("").score).toBe(0);
  });

  it("scores common passwords 0, also with case changes and a suffix", () => {
    expect(estimateStrength("password").score).toBe(0);
    expect(estimateStrength("Password").score).toBe(0);
    expect(estimateStrength("letmein123!").score).toBe(0);
    expect(estimateStrength("qwerty").word).toBe("Too weak");
    expect(estimateStrength("P@ssw0rd").score).toBe(0);
    expect(estimateStrength("P@ssw0rd!2024").score).toBeLessThan(MIN_SCORE);
  });

  it("punishes repeated and sequential characters", () => {
    expect(estimateStrength("aaaaaaaaaaaaaaaa").score).toBeLessThan(MIN_SCORE);
    expect(estimateStrength("abcdefghijklmnop").score).toBeLessThan(MIN_SCORE);
    expect(estimateStrength("1234567890123").score).toBeLessThan(MIN_SCORE);
    expect(estimateStrength("qwertyuiopasdf").score).toBeLessThan(MIN_SCORE);
    // the same length without patterns is fine
    expect(estimateStrength("qmzhtrwplxkvbn").score).toBeGreaterThanOrEqual(MIN_SCORE);
  });

  it("rates short passwords weak and long passphrases strong", () => {
    expect(estimateStrength("hello12").score).toBeLessThan(MIN_SCORE);
    expect(estimateStrength("Tk9#").score).toBe(0);
    expect(estimateStrength("correct horse battery staple").score).toBe(4);
    expect(estimateStrength("correct horse battery staple").word).toBe("Strong");
  });

  it("counts character classes", () => {
    const lower = estimateStrength("mkgtrwqzpd");
    const mixed = estimateStrength("mK9#rW!zP&");
    expect(mixed.bits).toBeGreaterThan(lower.bits);
    expect(mixed.score).toBeGreaterThanOrEqual(lower.score);
  });

  it("counts the person's own name as guessable", () => {
    const without = estimateStrength("margarethe7492");
    const withName = estimateStrength("margarethe7492", ["Margarethe"]);
    expect(withName.bits).toBeLessThan(without.bits);
    expect(withName.score).toBeLessThan(MIN_SCORE);
  });

  it("gives a hint when weak", () => {
    expect(estimateStrength("short").hint).not.toBe("");
  });
});
