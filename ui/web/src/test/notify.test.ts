// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from "vitest";
import { notificationBody, pageInBackground, showNotification } from "../lib/notify";

afterEach(() => {
  delete window.discordopusNotify;
  vi.restoreAllMocks();
});

describe("notificationBody", () => {
  it("shows the text, or hides it when content is off", () => {
    expect(notificationBody("see you at 6", true)).toBe("see you at 6");
    expect(notificationBody("see you at 6", false)).toBe("New message");
  });
  it("flattens whitespace and shortens long texts", () => {
    expect(notificationBody("a\n\n  b", true)).toBe("a b");
    const body = notificationBody("x".repeat(500), true);
    expect(body.length).toBe(140);
    expect(body.endsWith("…")).toBe(true);
    expect(notificationBody("   ", true)).toBe("New message");
  });
});

describe("showNotification", () => {
  it("goes through the desktop shell when it is there", () => {
    const calls: [string, string][] = [];
    window.discordopusNotify = (t, b) => calls.push([t, b]);
    showNotification("Alice", "hello");
    expect(calls).toEqual([["Alice", "hello"]]);
  });
  it("survives a shell that throws", () => {
    window.discordopusNotify = () => {
      throw new Error("no D-Bus");
    };
    expect(() => showNotification("Alice", "hello")).not.toThrow();
  });
});

describe("pageInBackground", () => {
  it("is true when the page is hidden or unfocused", () => {
    vi.spyOn(document, "hasFocus").mockReturnValue(true);
    expect(pageInBackground()).toBe(false);
    vi.spyOn(document, "hasFocus").mockReturnValue(false);
    expect(pageInBackground()).toBe(true);
  });
});
