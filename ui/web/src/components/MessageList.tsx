import { useCallback, useMemo } from "react";
import { Virtuoso } from "react-virtuoso";
import type { Contact, Message } from "../api";
import { loadOlder, toggleReactionOn } from "../actions";
import { buildRows, type Row } from "../lib/grouping";
import type { ConvMessages } from "../lib/merge";
import { MessageRow } from "./MessageRow";
import { Spinner } from "./Screens";
import { Avatar } from "./Avatar";

/** The virtualized list of one conversation's loaded messages. */
export function MessageList({
  contact,
  conv,
  myName,
  mySeed,
  onReact,
  onReply,
}: {
  contact: Contact;
  conv: ConvMessages;
  myName: string;
  mySeed: string;
  onReact: (msg: Message, anchor: HTMLElement) => void;
  onReply: (msg: Message) => void;
}) {
  const rows = useMemo(() => buildRows(conv.list), [conv.list]);
  const byId = useMemo(() => {
    const map = new Map<string, Message>();
    for (const m of conv.list) map.set(m.id, m);
    return map;
  }, [conv.list]);
  const id = contact.id;
  const onToggle = useCallback((msg: Message, emoji: string) => void toggleReactionOn(id, msg, emoji), [id]);
  const startReached = useCallback(() => void loadOlder(id), [id]);
  const hasOlder = conv.hasOlder;
  const loadingOlder = conv.loadingOlder;

  const Header = useMemo(
    () =>
      function Header() {
        if (hasOlder) {
          return <div className="list-top">{loadingOlder ? <Spinner label="Loading older messages" /> : <span className="muted small">Scroll up for older messages</span>}</div>;
        }
        return (
          <div className="conversation-start">
            <Avatar name={contact.name} seed={contact.peer || contact.id} size={64} />
            <h2>{contact.name}</h2>
            <p className="muted">This is the beginning of your end-to-end encrypted conversation with {contact.name}.</p>
          </div>
        );
      },
    [hasOlder, loadingOlder, contact.name, contact.peer, contact.id],
  );

  const itemContent = useCallback(
    (_: number, row: Row) => {
      const m = row.msg;
      const quoted = m.reply_to ? (byId.get(m.reply_to) ?? null) : undefined;
      return (
        <MessageRow
          row={row}
          name={m.outgoing ? myName : contact.name}
          seed={m.outgoing ? mySeed : contact.peer || contact.id}
          quoted={quoted}
          quotedName={quoted ? (quoted.outgoing ? myName : contact.name) : ""}
          onReact={onReact}
          onReply={onReply}
          onToggleReaction={onToggle}
        />
      );
    },
    [byId, myName, mySeed, contact.name, contact.peer, contact.id, onReact, onReply, onToggle],
  );

  return (
    <div className="message-list" data-testid="message-list" role="log" aria-label={`Messages with ${contact.name}`} aria-live="polite">
      <Virtuoso<Row>
        key={id + ":" + conv.generation}
        style={{ height: "100%" }}
        data={rows}
        firstItemIndex={conv.firstItemIndex}
        initialTopMostItemIndex={{ index: "LAST", align: "end" }}
        alignToBottom
        atBottomThreshold={80}
        followOutput={(atBottom) => {
          const last = rows[rows.length - 1];
          if (last?.msg.outgoing && Date.now() - last.time < 10_000) return "auto";
          return atBottom ? "auto" : false;
        }}
        startReached={startReached}
        increaseViewportBy={{ top: 800, bottom: 400 }}
        computeItemKey={(_, row) => row.msg.id}
        itemContent={itemContent}
        components={{ Header }}
      />
    </div>
  );
}
