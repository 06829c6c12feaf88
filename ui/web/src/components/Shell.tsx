import { useEffect, useState } from "react";
import { openDialog, selectConversation } from "../actions";
import { handleEscape } from "../lib/escape";
import { findConversation, neighbour } from "../model";
import { store, useModel } from "../store";
import { AddContactDialog } from "./AddContactDialog";
import { focusComposer } from "./composerFocus";
import { ContactPanel } from "./ContactPanel";
import { ConversationList } from "./ConversationList";
import { EmptyPane, MessagePane } from "./MessagePane";
import { NetworkPanel } from "./NetworkPanel";
import { QuickSwitcher } from "./QuickSwitcher";
import { ServerRail } from "./ServerRail";
import { SettingsPanel } from "./SettingsPanel";
import { VerifyDialog } from "./VerifyDialog";

/** The running app: rail, conversations, the open conversation, details, dialogs. */
export function Shell() {
  const selected = useModel((m) => m.selected);
  const contact = useModel((m) => findConversation(m.conversations, m.selected)?.contact);
  const panel = useModel((m) => m.contactPanel);
  const dialog = useModel((m) => m.dialog);
  const connection = useModel((m) => m.connection);
  const toast = useModel((m) => m.toast);
  const offline = useOffline();

  useEffect(() => {
    function onKey(e: KeyboardEvent) {
      if ((e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey && e.key.toLowerCase() === "k") {
        e.preventDefault();
        const d = store.get().dialog;
        openDialog(d?.kind === "switcher" ? null : { kind: "switcher" });
        return;
      }
      if (e.altKey && !e.ctrlKey && !e.metaKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
        if (store.get().dialog) return;
        e.preventDefault();
        const m = store.get();
        const next = neighbour(m.conversations, m.selected, e.key === "ArrowDown" ? 1 : -1);
        if (next) selectConversation(next);
        return;
      }
      if (e.key === "Escape") {
        if (handleEscape()) e.preventDefault();
        return;
      }
      // Typing anywhere outside a field goes to the composer.
      const t = e.target as HTMLElement | null;
      const inField = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
      if (!inField && !store.get().dialog && e.key.length === 1 && !e.ctrlKey && !e.metaKey && !e.altKey) {
        focusComposer();
      }
    }
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  // Focus moves to the composer when a conversation opens.
  useEffect(() => {
    if (selected) requestAnimationFrame(() => focusComposer());
  }, [selected]);

  return (
    <div className={`shell ${connection === "lost" || offline ? "with-banner" : ""}`}>
      {connection === "lost" && (
        <div className="connection-banner" data-testid="connection-banner" role="alert">
          Connection to DiscordOpus lost — reconnecting…
        </div>
      )}
      {connection !== "lost" && offline && (
        <div className="connection-banner offline" data-testid="offline-banner" role="status">
          You are offline: no other DiscordOpus node is reachable. Messages you send wait here and go out when
          the network is back.
        </div>
      )}
      <div className="shell-main">
        <ServerRail />
        <ConversationList />
        {contact ? <MessagePane key={contact.id} contact={contact} /> : <EmptyPane />}
        {contact && panel && <ContactPanel contact={contact} />}
      </div>
      {dialog?.kind === "add-contact" && <AddContactDialog />}
      {dialog?.kind === "network" && <NetworkPanel />}
      {dialog?.kind === "settings" && <SettingsPanel />}
      {dialog?.kind === "verify" && <VerifyDialog contactId={dialog.contact} />}
      {dialog?.kind === "switcher" && <QuickSwitcher />}
      {toast && (
        <div className="toast" role="status">
          {toast}
        </div>
      )}
    </div>
  );
}

/** offlineAfter is how long the node must have no peers before the page
 * says it is offline: a node that is starting has none for a moment. */
const offlineAfter = 3000;

/** useOffline says whether the node has had no connected peer for offlineAfter. */
function useOffline(): boolean {
  const noPeers = useModel((m) => m.network !== null && m.network.peers.length === 0);
  const [offline, setOffline] = useState(false);
  useEffect(() => {
    if (!noPeers) {
      setOffline(false);
      return;
    }
    const t = setTimeout(() => setOffline(true), offlineAfter);
    return () => clearTimeout(t);
  }, [noPeers]);
  return offline;
}
