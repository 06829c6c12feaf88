import { useMemo, useState } from "react";
import { openDialog, selectConversation } from "../actions";
import { switcherMatches } from "../model";
import { useModel } from "../store";
import { Avatar } from "./Avatar";
import { Dialog } from "./Dialog";

/** Ctrl+K: type a name, Enter jumps to the conversation. */
export function QuickSwitcher() {
  const conversations = useModel((m) => m.conversations);
  const [q, setQ] = useState("");
  const [active, setActive] = useState(0);
  const results = useMemo(() => switcherMatches(conversations, q).slice(0, 20), [conversations, q]);
  const current = Math.min(active, Math.max(0, results.length - 1));

  function go(i: number) {
    const c = results[i];
    if (!c) return;
    openDialog(null);
    selectConversation(c.contact.id);
  }

  return (
    <Dialog title="Jump to a conversation" onClose={() => openDialog(null)} className="switcher-dialog">
      <div data-testid="quick-switcher" className="quick-switcher">
        <input
          data-testid="quick-switcher-input"
          className="switcher-input"
          placeholder="Where would you like to go?"
          value={q}
          autoFocus
          aria-label="Conversation name"
          aria-controls="switcher-results"
          aria-activedescendant={results[current] ? "sw-" + results[current].contact.id : undefined}
          onChange={(e) => {
            setQ(e.target.value);
            setActive(0);
          }}
          onKeyDown={(e) => {
            if (e.key === "ArrowDown") {
              e.preventDefault();
              setActive((current + 1) % Math.max(1, results.length));
            } else if (e.key === "ArrowUp") {
              e.preventDefault();
              setActive((current - 1 + results.length) % Math.max(1, results.length));
            } else if (e.key === "Enter") {
              e.preventDefault();
              go(current);
            }
          }}
        />
        <ul id="switcher-results" role="listbox" className="switcher-results">
          {results.length === 0 && <li className="muted">No conversation matches “{q}”.</li>}
          {results.map((c, i) => (
            <li
              key={c.contact.id}
              id={"sw-" + c.contact.id}
              role="option"
              aria-selected={i === current}
              className={i === current ? "active" : ""}
              data-testid="quick-switcher-item"
              data-contact-name={c.contact.name}
              onMouseEnter={() => setActive(i)}
              onMouseDown={(e) => {
                e.preventDefault();
                go(i);
              }}
            >
              <Avatar name={c.contact.name} seed={c.contact.peer || c.contact.id} size={24} />
              <span>{c.contact.name}</span>
              {c.unread > 0 && <span className="unread-pill">{c.unread}</span>}
              {c.contact.state === "request" && <span className="tag">request</span>}
            </li>
          ))}
        </ul>
        <p className="hint">↑↓ to move · Enter to open · Esc to close</p>
      </div>
    </Dialog>
  );
}
