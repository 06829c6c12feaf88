import { openDialog } from "../actions";
import { useModel } from "../store";
import { IconChat, IconGear, IconNetwork, IconPlus } from "./Icons";

/** The narrow column on the far left: spaces (only Direct Messages for now) and app buttons. */
export function ServerRail() {
  const totalUnread = useModel((m) => m.conversations.reduce((n, c) => n + (c.contact.state === "blocked" ? 0 : c.unread), 0));
  return (
    <nav className="rail" data-testid="server-rail" aria-label="Spaces">
      <button type="button" className="rail-item active" data-testid="rail-dms" aria-label="Direct Messages" title="Direct Messages">
        <span className="rail-pill" />
        <IconChat size={26} />
        {totalUnread > 0 && <span className="rail-badge">{totalUnread > 99 ? "99+" : totalUnread}</span>}
      </button>
      <div className="rail-sep" />
      <button
        type="button"
        className="rail-item add"
        data-testid="add-contact-button"
        aria-label="Add a contact"
        title="Add a contact"
        onClick={() => openDialog({ kind: "add-contact" })}
      >
        <IconPlus />
      </button>
      <div className="rail-spacer" />
      <button
        type="button"
        className="rail-item tool"
        data-testid="network-button"
        aria-label="Network status"
        title="Network status"
        onClick={() => openDialog({ kind: "network" })}
      >
        <IconNetwork size={22} />
      </button>
      <button
        type="button"
        className="rail-item tool"
        data-testid="settings-button"
        aria-label="Settings"
        title="Settings"
        onClick={() => openDialog({ kind: "settings" })}
      >
        <IconGear size={22} />
      </button>
    </nav>
  );
}
