import { memo } from "react";
import type { Message } from "../api";
import type { Row } from "../lib/grouping";
import { summarizeReactions } from "../lib/reactions";
import { fullTime, headerTime, ms, shortTime } from "../lib/time";
import { Avatar } from "./Avatar";
import { DeliveryTick } from "./DeliveryTick";
import { IconReactAdd, IconReply } from "./Icons";

export interface RowProps {
  row: Row;
  /** The sender's name for this row. */
  name: string;
  seed: string;
  /** The replied-to message: undefined when none, null when it is not loaded. */
  quoted: Message | null | undefined;
  quotedName: string;
  onReact: (msg: Message, anchor: HTMLElement) => void;
  onReply: (msg: Message) => void;
  onToggleReaction: (msg: Message, emoji: string) => void;
}

function timeTitle(m: Message): string {
  const sent = fullTime(ms(m.sent_at));
  if (!m.outgoing && m.received_at) return `Sent ${sent}\nReceived ${fullTime(ms(m.received_at))}`;
  return sent;
}

function snippet(text: string): string {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length > 120 ? t.slice(0, 119) + "…" : t;
}

export const MessageRow = memo(function MessageRow(p: RowProps) {
  const { row } = p;
  const m = row.msg;
  return (
    <div className="row">
      {row.day && (
        <div className="day-separator" data-testid="day-separator" role="separator">
          <span>{row.day}</span>
        </div>
      )}
      {m.kind === "notice" ? (
        <div className="notice" data-testid="notice" data-message-id={m.id} title={timeTitle(m)}>
          <span>{m.text}</span>
          <time> · {shortTime(row.time)}</time>
        </div>
      ) : (
        <TextMessage {...p} />
      )}
    </div>
  );
});

function TextMessage({ row, name, seed, quoted, quotedName, onReact, onReply, onToggleReaction }: RowProps) {
  const m = row.msg;
  const chips = summarizeReactions(m.reactions);
  return (
    <div
      className={`message ${row.groupStart ? "group-start" : ""} ${m.outgoing ? "outgoing" : "incoming"} ${m.state === "failed" ? "failed" : ""}`}
      data-testid="message"
      data-message-id={m.id}
      data-outgoing={m.outgoing ? "true" : "false"}
      data-state={m.state ?? ""}
      tabIndex={-1}
    >
      {m.reply_to !== undefined && m.reply_to !== "" && (
        <div className="reply-quote" data-testid="reply-quote">
          <span className="reply-spine" aria-hidden="true" />
          {quoted ? (
            <>
              <span className="reply-name">{quotedName}</span>
              <span className="reply-text">{snippet(quoted.text)}</span>
            </>
          ) : (
            <span className="reply-text muted">Original message not loaded</span>
          )}
        </div>
      )}
      <div className="message-main">
        <div className="gutter">
          {row.groupStart ? (
            <Avatar name={name} seed={seed} size={40} />
          ) : (
            <time className="hover-time" title={timeTitle(m)}>
              {shortTime(row.time)}
            </time>
          )}
        </div>
        <div className="message-body">
          {row.groupStart && (
            <div className="message-head">
              <span className={`sender ${m.outgoing ? "me" : ""}`}>{name}</span>
              <time className="stamp" title={timeTitle(m)}>
                {headerTime(row.time)}
              </time>
            </div>
          )}
          <div className="message-content">
            <span className="message-text" data-testid="message-text">
              {m.text}
            </span>
            {m.outgoing && <DeliveryTick state={m.state} />}
          </div>
          {chips.length > 0 && (
            <div className="reactions">
              {chips.map((c) => (
                <button
                  key={c.emoji}
                  type="button"
                  className={`reaction ${c.mine ? "mine" : ""}`}
                  data-testid="reaction"
                  data-emoji={c.emoji}
                  aria-pressed={c.mine}
                  aria-label={`${c.emoji} ${c.count}${c.mine ? ", including you" : ""}`}
                  title={c.mine ? "Click to remove your reaction" : "Click to react"}
                  onClick={() => onToggleReaction(m, c.emoji)}
                >
                  <span className="reaction-emoji">{c.emoji}</span>
                  <span className="reaction-count">{c.count}</span>
                </button>
              ))}
            </div>
          )}
        </div>
      </div>
      <div className="message-actions" role="toolbar" aria-label="Message actions">
        <button
          type="button"
          className="action"
          data-testid="react-button"
          aria-label="Add reaction"
          title="Add reaction"
          onClick={(e) => onReact(m, e.currentTarget)}
        >
          <IconReactAdd />
        </button>
        <button type="button" className="action" data-testid="reply-button" aria-label="Reply" title="Reply" onClick={() => onReply(m)}>
          <IconReply />
        </button>
      </div>
    </div>
  );
}
