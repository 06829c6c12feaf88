import { describe, expect, it } from "vitest";
import { laterState, tickFor } from "../lib/ticks";

describe("delivery ticks", () => {
  it("maps every delivery state to its icon and label", () => {
    const out = (state: "sending" | "sent" | "delivered" | "read" | "failed") => tickFor({ outgoing: true, kind: "text", state });
    expect(out("sending")).toEqual({ state: "sending", icon: "clock", label: "Sending" });
    expect(out("sent")).toEqual({ state: "sent", icon: "single", label: "Sent" });
    expect(out("delivered")).toEqual({ state: "delivered", icon: "double", label: "Delivered" });
    expect(out("read")).toEqual({ state: "read", icon: "double-filled", label: "Read" });
    expect(out("failed")).toEqual({ state: "failed", icon: "failed", label: "Not delivered" });
  });

  it("shows nothing for incoming messages and notices", () => {
    expect(tickFor({ outgoing: false, kind: "text", state: "read" })).toBeNull();
    expect(tickFor({ outgoing: true, kind: "notice" })).toBeNull();
  });

  it("treats an outgoing message without a state as sent", () => {
    expect(tickFor({ outgoing: true, kind: "text" })?.state).toBe("sent");
  });

  it("never moves a delivery state backwards", () => {
    expect(laterState("read", "delivered")).toBe("read");
    expect(laterState("delivered", "read")).toBe("read");
    expect(laterState("sending", "sent")).toBe("sent");
    expect(laterState("sent", "sending")).toBe("sent");
    expect(laterState("sending", "failed")).toBe("failed");
    expect(laterState("failed", "sent")).toBe("sent");
    expect(laterState(undefined, "sent")).toBe("sent");
    expect(laterState("sent", undefined)).toBe("sent");
  });
});
