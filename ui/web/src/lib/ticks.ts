// Delivery ticks for outgoing messages.
import type { DeliveryState } from "../api";

export type TickIcon = "clock" | "single" | "double" | "double-filled" | "failed";

export interface Tick {
  state: DeliveryState;
  icon: TickIcon;
  /** The title / accessible label. */
  label: string;
}

const TICKS: Record<DeliveryState, Omit<Tick, "state">> = {
  sending: { icon: "clock", label: "Sending" },
  sent: { icon: "single", label: "Sent" },
  delivered: { icon: "double", label: "Delivered" },
  read: { icon: "double-filled", label: "Read" },
  failed: { icon: "failed", label: "Not delivered" },
};

/** The tick for a message, or null for incoming messages and notices. */
export function tickFor(msg: { outgoing: boolean; kind: string; state?: DeliveryState }): Tick | null {
  if (!msg.outgoing || msg.kind !== "text") return null;
  const state: DeliveryState = msg.state && msg.state in TICKS ? msg.state : "sent";
  return { state, ...TICKS[state] };
}

/** Progress order of delivery states; a state never goes back to a lower rank. */
export const STATE_RANK: Record<DeliveryState, number> = {
  sending: 0,
  failed: 1,
  sent: 2,
  delivered: 3,
  read: 4,
};

/** The more advanced of two delivery states. */
export function laterState(a?: DeliveryState, b?: DeliveryState): DeliveryState | undefined {
  if (!a) return b;
  if (!b) return a;
  return STATE_RANK[b] >= STATE_RANK[a] ? b : a;
}
