import { useRef, useState } from "react";
import { api, isApiError } from "../api";
import { applyState } from "../actions";
import { humanError } from "../lib/errors";

/** Shown when the state is "locked": the passphrase opens the identity. */
export function Unlock() {
  const [pass, setPass] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    if (busy || !pass) {
      input.current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const st = await api.unlock(pass);
      applyState(st);
    } catch (err) {
      setError(isApiError(err, "wrong_passphrase") ? "Wrong passphrase. Try again." : humanError(err, "unlock"));
      setBusy(false);
      requestAnimationFrame(() => {
        input.current?.focus();
        input.current?.select();
      });
    }
  }

  return (
    <div className="fullscreen">
      <form className="card" onSubmit={submit} noValidate>
        <h1>Unlock DiscordOpus</h1>
        <p className="muted">Enter your passphrase to open your identity and messages.</p>
        <label className="field">
          <span>Passphrase</span>
          <input
            ref={input}
            data-testid="unlock-passphrase"
            type="password"
            autoFocus
            autoComplete="current-password"
            value={pass}
            readOnly={busy}
            aria-invalid={!!error}
            onChange={(e) => {
              setPass(e.target.value);
              if (error) setError(null);
            }}
          />
        </label>
        {error && (
          <p className="error-text" role="alert" data-testid="unlock-error">
            {error}
          </p>
        )}
        <button className="btn primary wide" type="submit" data-testid="unlock-submit" disabled={busy}>
          {busy ? "Unlocking…" : "Unlock"}
        </button>
      </form>
    </div>
  );
}
