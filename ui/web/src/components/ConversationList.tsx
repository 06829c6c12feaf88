import { memo } from "react";
import type { Conversation } from "../api";
import { loadConversations, openDialog, selectConversation } from "../actions";
import { listTime, messageTime } from "../lib/time";
import { splitConversations } from "../model";
import { useModel } from "../store";
import { Avatar } from "./Avatar";
import { IconSearch } from "./Icons";
import { VerifiedBadge } from "./VerifiedBadge";

/** The sidebar: message requests, then direct messages. */
export function ConversationList() {
  const conversations = useModel((m) => m.conversations);
  const loaded = useModel((m) => m.conversationsLoaded);
  const error = useModel((m) => m.conversationsError);
  const selected = useModel((m) => m.selected);
  const typing = useModel((m) => m.typing);
  const me = useModel((m) => m.settings?.display_name ?? m.me?.display_name ?? "");
  const peer = useModel((m) => m.app?.peer_id ?? "");
  const { requests, direct } = splitConversations(conversations);

  return (
    <aside className="sidebar">
      <div className="sidebar-head">
        <button type="button" className="search-btn" onClick={() => openDialog({ kind: "switcher" })} title="Find a conversation (Ctrl+K)">
          <IconSearch />
          <span>Find a conversation</span>
          <kbd>Ctrl K</kbd>
        </button>
      </div>
      <div className="conversation-list" data-testid="conversation-list" role="list" aria-label="Conversations">
        {error && (
          <div className="list-error" role="alert">
            <p>Couldn't load conversations: {error}</p>
            <button type="button" className="btn small" onClick={() => void loadConversations()}>
              Retry
            </button>
          </div>
        )}
        {requests.length > 0 && (
          <>
            <h3 className="list-section">Message requests — {requests.length}</h3>
            {requests.map((c) => (
              <ConversationItem key={c.contact.id} conv={c} active={c.contact.id === selected} typing={!!typing[c.contact.id]} />
            ))}
          </>
        )}
        <h3 className="list-section">Direct messages</h3>
        {direct.map((c) => (
          <ConversationItem key={c.contact.id} conv={c} active={c.contact.id === selected} typing={!!typing[c.contact.id]} />
        ))}
        {loaded && conversations.length === 0 && !error && (
          <div className="list-empty">
            <p>No conversations yet.</p>
            <button type="button" className="btn small primary" onClick={() => openDialog({ kind: "add-contact" })}>
              Add a contact
            </button>
          </div>
        )}
        {!loaded && !error && <p className="list-empty muted">Loading…</p>}
      </div>
      <div className="me-bar" title={peer ? `Your PeerID: ${peer}` : undefined}>
        <Avatar name={me || "?"} seed={peer || me} size={32} />
        <div className="me-text">
          <div className="me-name">{me || "You"}</div>
          <div className="me-peer">{peer ? peer.slice(0, 6) + "…" + peer.slice(-6) : ""}</div>
        </div>
      </div>
    </aside>
  );
}

function preview(c: Conversation): string {
  const m = c.last;
  if (!m) return c.contact.state === "request" ? "Wants to message you" : "No messages yet";
  const text = m.text.replace(/\s+/g, " ").trim();
  if (m.kind === "notice") return text;
  return (m.outgoing ? "You: " : "") + text;
}

const ConversationItem = memo(function ConversationItem({
  conv,
  active,
  typing,
}: {
  conv: Conversation;
  active: boolean;
  typing: boolean;
}) {
  const c = conv.contact;
  const unread = c.state === "blocked" ? 0 : conv.unread;
  return (
    <button
      type="button"
      role="listitem"
      className={`conv-item ${active ? "active" : ""} ${unread > 0 ? "unread" : ""} ${c.state}`}
      data-testid="conversation-item"
      data-contact-name={c.name}
      data-contact-id={c.id}
      aria-current={active ? "true" : undefined}
      onClick={() => selectConversation(c.id)}
    >
      <Avatar name={c.name} seed={c.peer || c.id} size={32} />
      <span className="conv-text">
        <span className="conv-top">
          <span className="conv-name">{c.name}</span>
          {c.verified && <VerifiedBadge size={12} />}
          {c.state === "blocked" && <span className="tag">Blocked</span>}
          <span className="conv-time">{conv.last ? listTime(messageTime(conv.last)) : ""}</span>
        </span>
        <span className={`conv-preview ${conv.last?.kind === "notice" ? "is-notice" : ""}`}>
          {typing ? <em>typing…</em> : preview(conv)}
        </span>
      </span>
      {unread > 0 && (
        <span className="unread-badge" data-testid="unread-badge" aria-label={`${unread} unread`}>
          {unread > 99 ? "99+" : unread}
        </span>
      )}
    </button>
  );
});
