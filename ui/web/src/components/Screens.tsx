// Full-screen states: loading, starting, failed, not signed in, unreachable.
import { refreshState } from "../actions";

export function Spinner({ label }: { label?: string }) {
  return (
    <span className="spinner" role="status" aria-label={label ?? "Loading"}>
      <span />
    </span>
  );
}

export function Loading() {
  return (
    <div className="fullscreen" data-testid="app-loading">
      <Spinner />
    </div>
  );
}

export function Starting() {
  return (
    <div className="fullscreen" data-testid="app-starting">
      <div className="card center">
        <Spinner label="Starting" />
        <h1>Starting DiscordOpus…</h1>
        <p className="muted">Opening your encrypted store and joining the network.</p>
      </div>
    </div>
  );
}

export function Failed({ error }: { error?: string }) {
  return (
    <div className="fullscreen" data-testid="app-failed">
      <div className="card">
        <h1>DiscordOpus could not start</h1>
        <p className="error-text" role="alert">
          {error || "An unknown error stopped the node."}
        </p>
        <p className="muted">Check the terminal where DiscordOpus runs for details, then restart it.</p>
        <button className="btn" type="button" onClick={() => void refreshState()}>
          Check again
        </button>
      </div>
    </div>
  );
}

export function Unauthorized() {
  return (
    <div className="fullscreen" data-testid="app-unauthorized">
      <div className="card">
        <h1>This page is not signed in</h1>
        <p>Open DiscordOpus from the link it printed.</p>
        <p className="muted">
          For your safety the app only answers the browser tab it opened itself. Close this tab and use the
          address shown in the terminal (it contains a one-time token).
        </p>
      </div>
    </div>
  );
}

export function Unreachable({ message }: { message: string }) {
  return (
    <div className="fullscreen" data-testid="app-unreachable">
      <div className="card">
        <h1>Can't reach DiscordOpus</h1>
        <p className="error-text" role="alert">
          {message}
        </p>
        <p className="muted">Retrying automatically…</p>
        <button className="btn" type="button" onClick={() => void refreshState()}>
          Retry now
        </button>
      </div>
    </div>
  );
}
