// Package ui is the desktop app behind its window: one loopback HTTP
// server that serves the embedded web UI (built from ui/web), the JSON API
// the UI drives, and the WebSocket event stream that keeps it current,
// and that runs the node the user unlocks through it.
//
// The API is written down in API.md. Its guard is the security boundary
// between the user's node and everything else on the machine: it listens
// on 127.0.0.1 only, and refuses a request without this run's session
// secret (a cookie bought once with the one-time code in the login link,
// or a Bearer token), with a Host header other than its own address (DNS
// rebinding), with a foreign Origin, without an Origin on anything that
// writes or upgrades, a write that is not JSON, or anything the browser
// marks cross-site or same-site. Every answer carries a
// Content-Security-Policy that allows only the embedded assets and the
// same-origin API.
//
// Decisions where the issue was silent:
//   - The session secret is new each run unless the launcher passes one
//     in $DISCORDOPUS_UI_TOKEN (never a flag: flags show in ps), for a
//     launcher that keeps a page open across restarts, and for tests.
//     With --ui-addr fixing the port, an open page then reconnects to a
//     restarted app and catches up. The login link is separate and good
//     for one visit, so a link left in a terminal or a log opens nothing.
//   - The browser is handed a private file that redirects to the link,
//     not the link itself: command lines are readable by every user.
//   - The display name is the user's own; it travels in their invite as
//     the name a contact sees prefilled, never over the chat protocol.
//   - Notification choices are stored in the encrypted store, not in a
//     plain file: whether you hide message content is itself private.
//   - A bootstrap list changed in settings is saved to the config file
//     and applies at the next start, as the settings screen says.
//   - Events are not replayed: a page that reconnects reads the API again.
package ui
