// Time helpers. All dates are shown in the local time zone.
import type { Message } from "../api";

/** Milliseconds of an RFC 3339 time; NaN-safe (0 for an unreadable time). */
export function ms(t: string | undefined): number {
  if (!t) return 0;
  const v = Date.parse(t);
  return Number.isNaN(v) ? 0 : v;
}

/**
 * The local time that places a message in the conversation: our own clock's
 * view of it (sent_at for ours, received_at for theirs when known).
 */
export function messageTime(m: Pick<Message, "outgoing" | "sent_at" | "received_at">): number {
  if (!m.outgoing && m.received_at) return ms(m.received_at);
  return ms(m.sent_at);
}

/** Local calendar day, e.g. "2025-03-04". */
export function dayKey(t: number | Date): string {
  const d = typeof t === "number" ? new Date(t) : t;
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

/** "Today", "Yesterday" or a long date such as "Tuesday, March 4, 2025". */
export function dayLabel(t: number, now: number = Date.now()): string {
  const key = dayKey(t);
  if (key === dayKey(now)) return "Today";
  const y = new Date(now);
  y.setDate(y.getDate() - 1);
  if (key === dayKey(y)) return "Yesterday";
  return new Date(t).toLocaleDateString(undefined, {
    weekday: "long",
    year: "numeric",
    month: "long",
    day: "numeric",
  });
}

/** "14:05" (locale dependent). */
export function shortTime(t: number): string {
  return new Date(t).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

/** The full date and time for a tooltip. */
export function fullTime(t: number): string {
  return new Date(t).toLocaleString(undefined, {
    weekday: "long",
    year: "numeric",
    month: "long",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

/** A compact time for the conversation list: time today, weekday this week, else date. */
export function listTime(t: number, now: number = Date.now()): string {
  if (!t) return "";
  if (dayKey(t) === dayKey(now)) return shortTime(t);
  if (now - t < 6 * 24 * 3600 * 1000 && t < now) {
    return new Date(t).toLocaleDateString(undefined, { weekday: "short" });
  }
  return new Date(t).toLocaleDateString(undefined, { year: "2-digit", month: "numeric", day: "numeric" });
}

/** The time next to a sender's name: "Today at 14:05", "Yesterday at 09:12" or "3/4/2025 14:05". */
export function headerTime(t: number, now: number = Date.now()): string {
  const label = dayLabel(t, now);
  if (label === "Today" || label === "Yesterday") return `${label} at ${shortTime(t)}`;
  return `${new Date(t).toLocaleDateString()} ${shortTime(t)}`;
}
