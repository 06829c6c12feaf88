import { describe, expect, it } from "vitest";
import { Drafts, type KV } from "../lib/drafts";

function memoryKV(): KV & { data: Map<string, string> } {
  const data = new Map<string, string>();
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => void data.set(k, v),
    removeItem: (k) => void data.delete(k),
  };
}

describe("Drafts", () => {
  it("keeps a draft per conversation", () => {
    const d = new Drafts(memoryKV());
    d.set("a", "hello");
    d.set("b", "other");
    expect(d.get("a")).toBe("hello");
    expect(d.get("b")).toBe("other");
    expect(d.get("c")).toBe("");
  });

  it("survives a reload through session storage", () => {
    const kv = memoryKV();
    new Drafts(kv).set("a", "half a thought");
    expect(new Drafts(kv).get("a")).toBe("half a thought");
  });

  it("clears both copies", () => {
    const kv = memoryKV();
    const d = new Drafts(kv);
    d.set("a", "x");
    d.clear("a");
    expect(d.get("a")).toBe("");
    expect(kv.data.size).toBe(0);
  });

  it("still works in memory when storage throws", () => {
    const broken: KV = {
      getItem: () => {
        throw new Error("denied");
      },
      setItem: () => {
        throw new Error("quota");
      },
      removeItem: () => {
        throw new Error("denied");
      },
    };
    const d = new Drafts(broken);
    d.set("a", "kept");
    expect(d.get("a")).toBe("kept");
  });
});
