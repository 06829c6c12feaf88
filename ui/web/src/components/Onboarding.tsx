import { useMemo, useState } from "react";
import { api } from "../api";
import { applyState } from "../actions";
import { humanError } from "../lib/errors";
import { estimateStrength, MIN_SCORE } from "../lib/strength";
import { StrengthMeter } from "./StrengthMeter";

/** Shown when GET /api/state says "setup": create the identity. */
export function Onboarding() {
  const [name, setName] = useState("");
  const [pass, setPass] = useState("");
  const [confirm, setConfirm] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const strength = useMemo(() => estimateStrength(pass, name ? [name] : []), [pass, name]);
  const mismatch = confirm.length > 0 && confirm !== pass;

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    if (busy) return;
    if (!name.trim()) return setError("Choose a display name: it is what your contacts see.");
    if (strength.score < MIN_SCORE) {
      return setError(`This passphrase is too weak. ${strength.hint || "Make it longer."} It needs to be at least “Fair”.`);
    }
    if (pass !== confirm) return setError("The two passphrases don't match.");
    setError(null);
    setBusy(true);
    try {
      const st = await api.setup(pass, name.trim());
      applyState(st);
    } catch (err) {
      setError(humanError(err, "setup"));
      setBusy(false);
    }
  }

  return (
    <div className="fullscreen onboarding">
      <form className="card" onSubmit={submit} noValidate>
        <h1>Welcome to DiscordOpus</h1>
        <p className="muted">
          Messages are end-to-end encrypted and go straight to your contacts, with no server in between. Choose
          a name and a passphrase to create your identity on this computer.
        </p>
        <label className="field">
          <span>Display name</span>
          <input
            data-testid="setup-name"
            value={name}
            autoFocus
            maxLength={64}
            autoComplete="nickname"
            onChange={(e) => {
              setName(e.target.value);
              setError(null);
            }}
          />
        </label>
        <label className="field">
          <span>Passphrase</span>
          <input
            data-testid="setup-passphrase"
            type="password"
            value={pass}
            autoComplete="new-password"
            onChange={(e) => {
              setPass(e.target.value);
              setError(null);
            }}
          />
        </label>
        <StrengthMeter strength={strength} empty={!pass} />
        <label className="field">
          <span>Confirm passphrase</span>
          <input
            data-testid="setup-passphrase-confirm"
            type="password"
            value={confirm}
            autoComplete="new-password"
            aria-invalid={mismatch}
            onChange={(e) => {
              setConfirm(e.target.value);
              setError(null);
            }}
          />
        </label>
        {mismatch && <p className="hint warn">The passphrases don't match yet.</p>}
        <p className="muted small">
          The passphrase encrypts your keys and messages on disk. Nobody can recover it for you: a few unrelated
          words are easy to remember and hard to guess.
        </p>
        {error && (
          <p className="error-text" role="alert" data-testid="setup-error">
            {error}
          </p>
        )}
        <button className="btn primary wide" type="submit" data-testid="setup-submit" disabled={busy}>
          {busy ? "Creating your identity…" : "Create identity"}
        </button>
      </form>
    </div>
  );
}
