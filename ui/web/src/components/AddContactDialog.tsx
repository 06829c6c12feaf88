import { useEffect, useState } from "react";
import { isApiError } from "../api";
import { addContact, loadMe, openDialog, selectConversation } from "../actions";
import { humanError } from "../lib/errors";
import { useModel } from "../store";
import { CopyButton } from "./CopyButton";
import { Dialog } from "./Dialog";
import { QrImage } from "./QrImage";
import { Spinner } from "./Screens";

/** Share your invite; paste theirs. */
export function AddContactDialog() {
  const me = useModel((m) => m.me);
  const [meError, setMeError] = useState<string | null>(null);
  const [invite, setInvite] = useState("");
  const [name, setName] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [canReplace, setCanReplace] = useState(false);
  const [busy, setBusy] = useState(false);
  const close = () => openDialog(null);

  useEffect(() => {
    loadMe().catch((e) => setMeError(humanError(e)));
  }, []);

  async function submit(replace: boolean) {
    const inv = invite.trim();
    if (!inv) {
      setError("Paste their invite (or PeerID) first.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const c = await addContact(inv, name.trim(), replace);
      close();
      selectConversation(c.id);
    } catch (e) {
      setCanReplace(isApiError(e, "identity_changed"));
      // An empty name takes the one the invite suggests; an invite that
      // suggests none needs one given here.
      setError(
        isApiError(e, "bad_name") && !name.trim()
          ? "This invite carries no name: give this contact one (only you see it)."
          : humanError(e, "addContact"),
      );
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title="Add a contact" onClose={close} testId="add-contact-dialog" wide>
      <div className="add-contact">
        <section className="my-invite-section">
          <h3>Your invite</h3>
          <p className="muted small">Send this to the person you want to talk to, or let them scan the code.</p>
          {me ? (
            <>
              <div className="invite-row">
                <code className="invite mono" data-testid="my-invite">{me.invite}</code>
              </div>
              <CopyButton text={me.invite} label="Copy invite" testId="copy-invite" className="btn secondary small" />
              <div className="invite-qr">
                <QrImage text={me.invite} alt="Your invite as a QR code" testId="my-invite-qr" size={180} />
              </div>
            </>
          ) : meError ? (
            <p className="error-text" role="alert">
              Couldn't load your invite: {meError}
            </p>
          ) : (
            <Spinner label="Loading your invite" />
          )}
        </section>
        <form
          className="their-invite-section"
          onSubmit={(e) => {
            e.preventDefault();
            void submit(false);
          }}
        >
          <h3>Their invite</h3>
          <label className="field">
            <span>Invite or PeerID</span>
            <textarea
              data-testid="invite-input"
              rows={4}
              value={invite}
              spellCheck={false}
              autoComplete="off"
              placeholder="Paste the invite they sent you"
              data-autofocus
              onChange={(e) => {
                setInvite(e.target.value);
                setError(null);
                setCanReplace(false);
              }}
            />
          </label>
          <label className="field">
            <span>Name</span>
            <input
              data-testid="contact-name-input"
              value={name}
              maxLength={64}
              placeholder="From their invite, or how they appear to you"
              onChange={(e) => {
                setName(e.target.value);
                setError(null);
              }}
            />
          </label>
          {error && (
            <p className="error-text" role="alert" data-testid="add-contact-error">
              {error}
            </p>
          )}
          <div className="dialog-actions">
            {canReplace && (
              <button type="button" className="btn danger" data-testid="add-contact-replace" disabled={busy} onClick={() => void submit(true)}>
                Replace (their safety number changed)
              </button>
            )}
            <button type="submit" className="btn primary" data-testid="add-contact-submit" disabled={busy}>
              {busy ? "Adding…" : "Add contact"}
            </button>
          </div>
        </form>
      </div>
    </Dialog>
  );
}
