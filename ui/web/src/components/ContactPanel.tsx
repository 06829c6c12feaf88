import type { Contact } from "../api";
import { openDialog, setContactState } from "../actions";
import { ms } from "../lib/time";
import { Avatar } from "./Avatar";
import { CopyButton } from "./CopyButton";
import { IconShield } from "./Icons";

/** The right-hand column: who this is and how much you can trust the keys. */
export function ContactPanel({ contact }: { contact: Contact }) {
  const blocked = contact.state === "blocked";
  return (
    <aside className="contact-panel" data-testid="contact-panel" aria-label="Contact details">
      <div className="cp-banner" />
      <div className="cp-avatar">
        <Avatar name={contact.name} seed={contact.peer || contact.id} size={80} />
      </div>
      <div className="cp-card">
        <h2 className="cp-name">
          {contact.name}
          {contact.verified && (
            <span className="verified-badge" data-testid="contact-verified-badge" title="Verified safety number" aria-label="Verified">
              <IconShield size={16} />
            </span>
          )}
        </h2>
        {contact.state === "request" && <p className="tag">Message request</p>}
        {blocked && <p className="tag danger">Blocked</p>}

        <h3>PeerID</h3>
        <p className="mono wrap cp-peer">{contact.peer}</p>
        <CopyButton text={contact.peer} label="Copy PeerID" />

        <h3>Safety number</h3>
        <p className={contact.verified ? "ok-text" : "muted"}>
          {contact.verified ? "Verified: you compared safety numbers." : "Not verified."}
        </p>
        <button type="button" className="btn secondary wide" data-testid="verify-button" onClick={() => openDialog({ kind: "verify", contact: contact.id })}>
          {contact.verified ? "View safety number" : "Verify safety number"}
        </button>

        {contact.addrs && contact.addrs.length > 0 && (
          <>
            <h3>Known addresses</h3>
            <ul className="mono small addr-list">
              {contact.addrs.map((a) => (
                <li key={a}>{a}</li>
              ))}
            </ul>
          </>
        )}

        <h3>Contact since</h3>
        <p className="muted">{ms(contact.added_at) ? new Date(ms(contact.added_at)).toLocaleDateString(undefined, { year: "numeric", month: "long", day: "numeric" }) : "—"}</p>

        <button
          type="button"
          className={`btn wide ${blocked ? "secondary" : "danger"}`}
          data-testid="block-button"
          onClick={() => void setContactState(contact.id, blocked ? "accepted" : "blocked")}
        >
          {blocked ? `Unblock ${contact.name}` : `Block ${contact.name}`}
        </button>
      </div>
    </aside>
  );
}
