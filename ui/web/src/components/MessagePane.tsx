import { useCallback, useEffect, useMemo, useState } from "react";
import type { Contact, Message } from "../api";
import { loadNewest, openDialog, setContactState, toggleContactPanel, toggleReactionOn } from "../actions";
import { isIdentityChangeNotice } from "../model";
import { useModel } from "../store";
import { focusComposer } from "./composerFocus";
import { Composer } from "./Composer";
import { EmojiPicker } from "./EmojiPicker";
import { IconPerson } from "./Icons";
import { MessageList } from "./MessageList";
import { Spinner } from "./Screens";
import { VerifiedBadge } from "./VerifiedBadge";

/** How we are connected to the contact now: direct, hole-punched, relayed,
 * or cut by a relay; the reason in plain words is its tooltip. */
export function ConnectionChip({ peer }: { peer: string }) {
  const path = useModel((m) => m.network?.nat?.contacts?.find((c) => c.peer === peer));
  if (!path) return null;
  const label = path.cut
    ? "Relay cut · reconnecting"
    : ({ direct: "Direct", "hole-punched": "Direct · hole-punched", relayed: "Relayed", none: "Offline" } as Record<string, string>)[path.path] ?? path.path;
  const tone = path.cut ? "warn" : path.path === "relayed" ? "relayed" : path.path === "none" ? "off" : "on";
  return (
    <span className={`conn-chip ${tone}`} data-testid="conversation-path" data-path={path.path} data-cut={path.cut ? "true" : "false"} title={path.reason} role="status">
      {label}
      {path.transport ? ` · ${path.transport}` : ""}
    </span>
  );
}

/** The open conversation: header, banners, messages, typing line and composer. */
export function MessagePane({ contact }: { contact: Contact }) {
  const id = contact.id;
  const conv = useModel((m) => m.convs[id]);
  const typingUntil = useModel((m) => m.typing[id]);
  const myName = useModel((m) => m.settings?.display_name || m.me?.display_name || "You");
  const mySeed = useModel((m) => m.app?.peer_id ?? "me");
  const panelOpen = useModel((m) => m.contactPanel);
  const [replyTo, setReplyTo] = useState<Message | null>(null);
  const [picker, setPicker] = useState<{ msg: Message; top: number; left: number } | null>(null);
  const [dismissedChange, setDismissedChange] = useState<string | null>(null);

  useEffect(() => {
    setReplyTo(null);
    setPicker(null);
  }, [id]);

  const onReply = useCallback((m: Message) => {
    setReplyTo(m);
    requestAnimationFrame(() => focusComposer());
  }, []);
  const onReact = useCallback((m: Message, anchor: HTMLElement) => {
    const r = anchor.getBoundingClientRect();
    const width = 312;
    const height = 340;
    const left = Math.max(8, Math.min(window.innerWidth - width - 8, r.right - width));
    const top = r.bottom + height + 8 < window.innerHeight ? r.bottom + 4 : Math.max(8, r.top - height - 4);
    setPicker({ msg: m, top, left });
  }, []);
  const cancelReply = useCallback(() => setReplyTo(null), []);

  // The newest notice saying their safety number changed.
  const changeNotice = useMemo(() => {
    const list = conv?.list ?? [];
    for (let i = list.length - 1; i >= 0; i--) if (isIdentityChangeNotice(list[i])) return list[i];
    return undefined;
  }, [conv?.list]);
  const showChange = !!changeNotice && !contact.verified && dismissedChange !== changeNotice.id;

  const typing = typingUntil !== undefined && contact.state !== "blocked";
  const disabled =
    contact.state === "blocked"
      ? `You blocked ${contact.name}`
      : contact.state === "request"
        ? `Accept the request to reply to ${contact.name}`
        : null;

  return (
    <section className="pane" aria-label={`Conversation with ${contact.name}`}>
      <header className="pane-head">
        <span className="at">@</span>
        <h1 className="pane-title">{contact.name}</h1>
        {contact.verified && <VerifiedBadge />}
        <span className="pane-peer" title={contact.peer}>
          {contact.peer.slice(0, 8)}…{contact.peer.slice(-6)}
        </span>
        <ConnectionChip peer={contact.peer} />
        <span className="spacer" />
        <button
          type="button"
          className={`icon-btn ${panelOpen ? "on" : ""}`}
          aria-label={panelOpen ? "Hide contact details" : "Show contact details"}
          aria-pressed={panelOpen}
          title="Contact details"
          onClick={toggleContactPanel}
        >
          <IconPerson />
        </button>
      </header>

      {contact.state === "request" && (
        <div className="banner request" data-testid="request-banner" role="region" aria-label="Message request">
          <span>
            <strong>{contact.name}</strong> wants to message you. They can't see if you read their messages until
            you accept.
          </span>
          <span className="banner-actions">
            <button type="button" className="btn primary small" data-testid="accept-request" onClick={() => void setContactState(id, "accepted")}>
              Accept
            </button>
            <button type="button" className="btn danger small" data-testid="block-request" onClick={() => void setContactState(id, "blocked")}>
              Block
            </button>
          </span>
        </div>
      )}
      {contact.state === "blocked" && (
        <div className="banner blocked" role="region" aria-label="Blocked">
          <span>You blocked {contact.name}. You won't get their messages.</span>
          <button type="button" className="btn small secondary" onClick={() => void setContactState(id, "accepted")}>
            Unblock
          </button>
        </div>
      )}
      {showChange && (
        <div className="banner warn" data-testid="identity-changed-banner" role="alert">
          <span>
            Safety number with <strong>{contact.name}</strong> changed. This can mean they reinstalled — or that someone
            is intercepting. Verify before sharing anything sensitive.
          </span>
          <span className="banner-actions">
            <button
              type="button"
              className="btn primary small"
              data-testid="identity-changed-verify"
              onClick={() => openDialog({ kind: "verify", contact: id })}
            >
              Verify
            </button>
            <button type="button" className="icon-btn" aria-label="Dismiss" onClick={() => setDismissedChange(changeNotice!.id)}>
              ✕
            </button>
          </span>
        </div>
      )}

      <div className="pane-messages">
        {!conv || (!conv.loaded && !conv.error) ? (
          <div className="pane-center" data-testid="message-list">
            <Spinner label="Loading messages" />
          </div>
        ) : !conv.loaded && conv.error ? (
          <div className="pane-center" data-testid="message-list">
            <div className="card small-card" role="alert">
              <p>Couldn't load messages: {conv.error}</p>
              <button type="button" className="btn small" onClick={() => void loadNewest(id)}>
                Retry
              </button>
            </div>
          </div>
        ) : (
          <MessageList contact={contact} conv={conv} myName={myName} mySeed={mySeed} onReact={onReact} onReply={onReply} />
        )}
      </div>

      <div className="typing-line" aria-live="polite">
        {typing && (
          <span data-testid="typing-indicator" className="typing-indicator">
            <span className="dots" aria-hidden="true">
              <i />
              <i />
              <i />
            </span>
            <strong>{contact.name}</strong> is typing…
          </span>
        )}
      </div>

      <Composer
        key={id}
        contactId={id}
        contactName={contact.name}
        disabled={disabled}
        replyTo={replyTo}
        replyName={replyTo ? (replyTo.outgoing ? myName : contact.name) : ""}
        onCancelReply={cancelReply}
      />

      {picker && (
        <EmojiPicker
          quick
          label="Add reaction"
          style={{ position: "fixed", top: picker.top, left: picker.left, zIndex: 40 }}
          onClose={() => setPicker(null)}
          onPick={(emoji) => {
            const current = conv?.list.find((x) => x.id === picker.msg.id) ?? picker.msg;
            setPicker(null);
            void toggleReactionOn(id, current, emoji);
          }}
        />
      )}
    </section>
  );
}

/** Shown when no conversation is open. */
export function EmptyPane() {
  const count = useModel((m) => m.conversations.length);
  return (
    <section className="pane empty">
      <div className="pane-center">
        <div className="welcome">
          <h1>{count ? "Pick a conversation" : "Say hello"}</h1>
          <p className="muted">
            {count
              ? "Choose someone on the left, or press Ctrl+K to jump to a conversation."
              : "Add a contact with the + button: share your invite, paste theirs."}
          </p>
          <button type="button" className="btn primary" onClick={() => openDialog({ kind: "add-contact" })}>
            Add a contact
          </button>
        </div>
      </div>
    </section>
  );
}
