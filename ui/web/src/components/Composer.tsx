import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import type { Message } from "../api";
import { sendMessage, sendTyping } from "../actions";
import { drafts } from "../lib/drafts";
import { humanError } from "../lib/errors";
import { TypingSender } from "../lib/typing";
import { limitInfo, MAX_MESSAGE_BYTES } from "../lib/utf8";
import { registerComposer } from "./composerFocus";
import { EmojiPicker } from "./EmojiPicker";
import { useEscape } from "./hooks";
import { IconSmile } from "./Icons";

/** The message box: Enter sends, Shift+Enter breaks the line; the draft is never lost. */
export function Composer({
  contactId,
  contactName,
  disabled,
  placeholder,
  replyTo,
  replyName,
  onCancelReply,
}: {
  contactId: string;
  contactName: string;
  /** A reason the composer can't send (blocked, request), or null. */
  disabled: string | null;
  placeholder?: string;
  replyTo: Message | null;
  replyName: string;
  onCancelReply: () => void;
}) {
  const [text, setText] = useState(() => drafts.get(contactId));
  const [error, setError] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const [picker, setPicker] = useState(false);
  const ta = useRef<HTMLTextAreaElement>(null);
  const emojiBtn = useRef<HTMLButtonElement>(null);
  const typing = useMemo(() => new TypingSender((t) => sendTyping(contactId, t)), [contactId]);
  const limit = limitInfo(text);

  useEffect(() => () => typing.stop(), [typing]);
  useEscape(onCancelReply, !!replyTo && !picker);

  useEffect(() => {
    registerComposer(ta.current);
    if (!disabled) ta.current?.focus();
    return () => registerComposer(null);
  }, [disabled]);

  useEffect(() => {
    if (replyTo) ta.current?.focus();
  }, [replyTo]);

  // Grow with the text up to a limit.
  useLayoutEffect(() => {
    const el = ta.current;
    if (!el) return;
    el.style.height = "auto";
    el.style.height = Math.min(el.scrollHeight, Math.round(window.innerHeight * 0.4)) + "px";
  }, [text]);

  const update = useCallback(
    (v: string) => {
      setText(v);
      drafts.set(contactId, v);
      setError(null);
      typing.input(v);
    },
    [contactId, typing],
  );

  async function send() {
    if (sending || disabled) return;
    const body = text.trim();
    if (!body) return;
    if (limitInfo(body).over) {
      setError("Message is too long (8 KiB max)");
      return;
    }
    setSending(true);
    setError(null);
    typing.stop();
    try {
      await sendMessage(contactId, body, replyTo?.id);
      // Only clear what was sent: keep anything typed while it was on its way.
      setText((cur) => {
        const next = cur === text ? "" : cur;
        drafts.set(contactId, next);
        return next;
      });
      onCancelReply();
    } catch (e) {
      setError(humanError(e, "send"));
    } finally {
      setSending(false);
      ta.current?.focus();
    }
  }

  function onKeyDown(e: React.KeyboardEvent<HTMLTextAreaElement>) {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      void send();
    }
  }

  function insertEmoji(emoji: string) {
    const el = ta.current;
    const start = el?.selectionStart ?? text.length;
    const end = el?.selectionEnd ?? text.length;
    const next = text.slice(0, start) + emoji + text.slice(end);
    update(next);
    setPicker(false);
    requestAnimationFrame(() => {
      if (!el) return;
      el.focus();
      const pos = start + emoji.length;
      el.setSelectionRange(pos, pos);
    });
  }

  return (
    <div className="composer-wrap">
      {replyTo && (
        <div className="reply-bar" data-testid="reply-bar">
          <span>
            Replying to <strong>{replyName}</strong>
            <span className="reply-bar-text"> {replyTo.text.replace(/\s+/g, " ").slice(0, 100)}</span>
          </span>
          <button type="button" className="icon-btn" aria-label="Cancel reply" title="Cancel reply (Esc)" onClick={onCancelReply}>
            ✕
          </button>
        </div>
      )}
      <div className={`composer-box ${replyTo ? "with-reply" : ""} ${limit.over ? "over" : ""}`}>
        <textarea
          ref={ta}
          data-testid="composer"
          className="composer"
          rows={1}
          value={text}
          disabled={!!disabled}
          placeholder={disabled ?? placeholder ?? `Message @${contactName}`}
          aria-label={`Message ${contactName}`}
          aria-invalid={limit.over}
          onChange={(e) => update(e.target.value)}
          onKeyDown={onKeyDown}
          onBlur={() => {
            if (!text.trim()) typing.stop();
          }}
        />
        {limit.showCounter && (
          <span className={`composer-counter ${limit.over ? "over" : ""}`} data-testid="composer-counter" aria-live="polite" title="UTF-8 bytes used">
            {limit.bytes.toLocaleString()} / {MAX_MESSAGE_BYTES.toLocaleString()}
          </span>
        )}
        <button
          ref={emojiBtn}
          type="button"
          className="icon-btn emoji-btn"
          data-testid="emoji-button"
          aria-label="Insert emoji"
          title="Emoji"
          disabled={!!disabled}
          onClick={() => setPicker((p) => !p)}
        >
          <IconSmile size={22} />
        </button>
        {picker && <EmojiPicker ignore={emojiBtn} onPick={insertEmoji} onClose={() => setPicker(false)} style={{ position: "absolute", right: 8, bottom: "calc(100% + 8px)" }} />}
      </div>
      {(error || limit.over) && (
        <p className="composer-error" data-testid="composer-error" role="alert">
          {error ?? "Message is too long (8 KiB max)"}
        </p>
      )}
    </div>
  );
}
