import { useEffect, useState } from "react";
import type { Settings } from "../api";
import { loadSettings, openDialog, saveSettings } from "../actions";
import { humanError } from "../lib/errors";
import { requestNotificationPermission } from "../lib/notify";
import { parseBootstrap } from "../lib/settings";
import { useModel } from "../store";
import { Dialog } from "./Dialog";
import { Spinner } from "./Screens";

export function SettingsPanel() {
  const stored = useModel((m) => m.settings);
  const [form, setForm] = useState<Settings | null>(stored);
  const [bootstrap, setBootstrap] = useState(stored ? stored.bootstrap.join("\n") : "");
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    loadSettings().then((s) => {
      if (!s) {
        if (!stored) setError("Couldn't load the settings.");
        return;
      }
      setForm((f) => f ?? s);
      setBootstrap((b) => b || (s.bootstrap ?? []).join("\n"));
    });
  }, []);

  function change<K extends keyof Settings>(k: K, v: Settings[K]) {
    setForm((f) => (f ? { ...f, [k]: v } : f));
    setSaved(false);
  }

  async function save(e: React.FormEvent) {
    e.preventDefault();
    if (!form) return;
    if (!form.display_name.trim()) {
      setError("Your display name can't be empty.");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const s = await saveSettings({ ...form, display_name: form.display_name.trim(), bootstrap: parseBootstrap(bootstrap) });
      setForm(s);
      setBootstrap((s.bootstrap ?? []).join("\n"));
      setSaved(true);
    } catch (err) {
      setError(humanError(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Dialog title="Settings" onClose={() => openDialog(null)} wide>
      <div data-testid="settings-panel">
        {!form && !error && <Spinner label="Loading settings" />}
        {form && (
          <form className="settings" onSubmit={save}>
            <h3>Profile</h3>
            <label className="field">
              <span>Display name</span>
              <input data-testid="settings-display-name" value={form.display_name} maxLength={64} onChange={(e) => change("display_name", e.target.value)} />
            </label>

            <h3>Privacy</h3>
            <Toggle testId="settings-read-receipts" label="Send read receipts" hint="Let contacts see when you read their messages. Turning it off also hides theirs." checked={form.read_receipts} onChange={(v) => change("read_receipts", v)} />
            <Toggle testId="settings-typing" label="Typing indicators" hint="Show and send “is typing…”." checked={form.typing_indicators} onChange={(v) => change("typing_indicators", v)} />

            <h3>Notifications</h3>
            <Toggle
              testId="settings-notifications"
              label="Desktop notifications"
              hint="Notify about new messages while DiscordOpus is in the background."
              checked={form.notifications}
              onChange={(v) => {
                change("notifications", v);
                if (v) requestNotificationPermission();
              }}
            />
            <Toggle
              testId="settings-notification-content"
              label="Show message content in notifications"
              hint="Off: notifications only say “New message”."
              checked={form.notification_content}
              onChange={(v) => change("notification_content", v)}
            />

            <h3>Network</h3>
            <label className="field">
              <span>Bootstrap peers (one multiaddr per line)</span>
              <textarea
                data-testid="settings-bootstrap"
                className="mono small"
                rows={4}
                spellCheck={false}
                value={bootstrap}
                onChange={(e) => {
                  setBootstrap(e.target.value);
                  setSaved(false);
                }}
              />
              <span className="hint">Applies at next start.</span>
            </label>

            {error && (
              <p className="error-text" role="alert">
                {error}
              </p>
            )}
            <div className="dialog-actions">
              {saved && (
                <span className="ok-text" data-testid="settings-saved" role="status">
                  Saved
                </span>
              )}
              <button type="submit" className="btn primary" data-testid="settings-save" disabled={busy}>
                {busy ? "Saving…" : "Save"}
              </button>
            </div>
          </form>
        )}
        {!form && error && (
          <p className="error-text" role="alert">
            {error}
          </p>
        )}
      </div>
    </Dialog>
  );
}

function Toggle({ testId, label, hint, checked, onChange }: { testId: string; label: string; hint: string; checked: boolean; onChange: (v: boolean) => void }) {
  return (
    <label className="toggle">
      <span className="toggle-text">
        <span>{label}</span>
        <span className="hint">{hint}</span>
      </span>
      <input type="checkbox" role="switch" data-testid={testId} checked={checked} onChange={(e) => onChange(e.target.checked)} />
    </label>
  );
}
