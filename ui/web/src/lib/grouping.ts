// Turns a chronological message list into rows for the message pane:
// which rows start a group (header with name and time) and where a day
// separator goes.
import type { Message } from "../api";
import { dayKey, dayLabel, messageTime } from "./time";

/** Messages from the same sender closer than this share one header. */
export const GROUP_GAP_MS = 5 * 60 * 1000;

export interface Row {
  msg: Message;
  /** Set when a day separator goes above this row ("Today", "Yesterday", a date). */
  day?: string;
  /** True when the row shows the sender's name and time. */
  groupStart: boolean;
  /** The placing time of the message, in ms. */
  time: number;
}

function sameSender(a: Message, b: Message): boolean {
  return a.outgoing === b.outgoing && a.contact === b.contact;
}

/** Builds the rows for messages in chronological order. */
export function buildRows(messages: readonly Message[], now: number = Date.now()): Row[] {
  const rows: Row[] = new Array(messages.length);
  let prev: Message | undefined;
  let prevTime = 0;
  let prevDay = "";
  for (let i = 0; i < messages.length; i++) {
    const msg = messages[i];
    const time = messageTime(msg);
    const key = dayKey(time);
    const newDay = key !== prevDay;
    const groupStart =
      !prev ||
      newDay ||
      msg.kind === "notice" ||
      prev.kind === "notice" ||
      !sameSender(prev, msg) ||
      !!msg.reply_to ||
      time - prevTime > GROUP_GAP_MS ||
      time < prevTime;
    rows[i] = { msg, time, groupStart, day: newDay ? dayLabel(time, now) : undefined };
    prev = msg;
    prevTime = time;
    prevDay = key;
  }
  return rows;
}
