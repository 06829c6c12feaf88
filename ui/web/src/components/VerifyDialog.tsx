import { useEffect, useState } from "react";
import { api, type SafetyNumber } from "../api";
import { openDialog, setVerified } from "../actions";
import { humanError } from "../lib/errors";
import { safetyGroups } from "../lib/safety";
import { findConversation } from "../model";
import { useModel } from "../store";
import { Dialog } from "./Dialog";
import { QrImage } from "./QrImage";
import { Spinner } from "./Screens";

/** Compare safety numbers, then mark the contact verified. */
export function VerifyDialog({ contactId }: { contactId: string }) {
  const contact = useModel((m) => findConversation(m.conversations, contactId)?.contact);
  const [sn, setSn] = useState<SafetyNumber | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const close = () => openDialog(null);

  useEffect(() => {
    let live = true;
    api.safetyNumber(contactId).then(
      (r) => live && setSn(r),
      (e) => live && setError(humanError(e)),
    );
    return () => {
      live = false;
    };
  }, [contactId]);

  const name = contact?.name ?? sn?.contact.name ?? "this contact";
  const verified = contact?.verified ?? sn?.contact.verified ?? false;
  const groups = sn ? safetyGroups(sn.safety_number) : [];

  async function mark(v: boolean) {
    setBusy(true);
    setError(null);
    try {
      await setVerified(contactId, v);
    } catch (e) {
      setError(humanError(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title={`Verify safety number with ${name}`} onClose={close} testId="verify-dialog" wide>
      {!sn && !error && <Spinner label="Loading safety number" />}
      {sn && (
        <>
          <p className="muted">
            Compare these numbers with the ones on {name}'s device — in person, or over a channel you already
            trust — or scan their code. If they match, nobody is in the middle of your conversation.
          </p>
          <div className="safety">
            <div className="safety-number mono" data-testid="safety-number" aria-label="Safety number">
              {groups.map((g, i) => (
                <span key={i}>
                  {g}
                  {i < groups.length - 1 ? " " : ""}
                </span>
              ))}
            </div>
            <QrImage base64={sn.qr} alt={`Safety number QR code for ${name}`} testId="safety-qr" size={200} />
          </div>
          <p className={verified ? "ok-text" : "muted"}>
            {verified ? `You marked ${name} as verified.` : `${name} is not verified.`}
          </p>
        </>
      )}
      {error && (
        <p className="error-text" role="alert">
          {error}
        </p>
      )}
      <div className="dialog-actions">
        {verified ? (
          <button type="button" className="btn secondary" data-testid="clear-verified" disabled={busy || !sn} onClick={() => void mark(false)}>
            Clear verification
          </button>
        ) : (
          <button type="button" className="btn primary" data-testid="mark-verified" disabled={busy || !sn} onClick={() => void mark(true)}>
            Mark as verified
          </button>
        )}
      </div>
    </Dialog>
  );
}
