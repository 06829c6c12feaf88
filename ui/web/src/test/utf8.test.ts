import { describe, expect, it } from "vitest";
import { limitInfo, MAX_MESSAGE_BYTES, utf8Length } from "../lib/utf8";

describe("utf8Length", () => {
  it("counts 1, 2, 3 and 4 byte characters", () => {
    expect(utf8Length("")).toBe(0);
    expect(utf8Length("abc")).toBe(3);
    expect(utf8Length("é")).toBe(2);
    expect(utf8Length("€")).toBe(3);
    expect(utf8Length("😀")).toBe(4);
    expect(utf8Length("👍🏽")).toBe(8);
    expect(utf8Length("a€😀")).toBe(8);
  });

  it("agrees with TextEncoder, lone surrogates included", () => {
    const enc = new TextEncoder();
    const samples = ["hello wörld", "日本語のテキスト", "🎉🎉 party", "\ud83d", "x\udc00y", "\u007f\u0080\u07ff\u0800\uffff"];
    for (const s of samples) expect(utf8Length(s)).toBe(enc.encode(s).length);
    let rnd = 7;
    for (let n = 0; n < 200; n++) {
      let s = "";
      for (let i = 0; i < 20; i++) {
        rnd = (rnd * 1103515245 + 12345) & 0x7fffffff;
        s += String.fromCharCode(rnd % 0x10000);
      }
      expect(utf8Length(s)).toBe(enc.encode(s).length);
    }
  });
});

describe("limitInfo", () => {
  it("allows exactly 8192 bytes and refuses one more", () => {
    expect(MAX_MESSAGE_BYTES).toBe(8192);
    expect(limitInfo("a".repeat(8192)).over).toBe(false);
    expect(limitInfo("a".repeat(8193)).over).toBe(true);
    expect(limitInfo("a".repeat(8193)).remaining).toBe(-1);
  });

  it("counts bytes, not characters", () => {
    const text = "😀".repeat(2049); // 2049 characters, 8196 bytes
    expect(limitInfo(text).over).toBe(true);
    expect(limitInfo("😀".repeat(2048)).over).toBe(false);
  });

  it("shows the counter only near the limit", () => {
    expect(limitInfo("hello").showCounter).toBe(false);
    expect(limitInfo("a".repeat(7000)).showCounter).toBe(false);
    expect(limitInfo("a".repeat(7500)).showCounter).toBe(true);
  });
});
