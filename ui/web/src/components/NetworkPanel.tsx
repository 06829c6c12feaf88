import { useEffect, useState } from "react";
import { loadNetwork, openDialog } from "../actions";
import { humanError } from "../lib/errors";
import { fullTime, ms } from "../lib/time";
import { useModel } from "../store";
import { CopyButton } from "./CopyButton";
import { Dialog } from "./Dialog";
import { Spinner } from "./Screens";

/** What the node sees of the network; live through "network" events. */
export function NetworkPanel() {
  const net = useModel((m) => m.network);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    loadNetwork().then(
      () => setError(null),
      (e) => setError(humanError(e)),
    );
  }, []);

  return (
    <Dialog title="Network" onClose={() => openDialog(null)} wide>
      <div className="network-panel" data-testid="network-panel">
        {error && (
          <p className="error-text" role="alert">
            Couldn't refresh the network status: {error}
          </p>
        )}
        {!net && !error && <Spinner label="Loading network status" />}
        {net && (
          <>
            <div className="kv">
              <span className="k">Your PeerID</span>
              <span className="v">
                <code className="mono wrap" data-testid="network-peer-id">
                  {net.peer_id}
                </code>
                <CopyButton text={net.peer_id} label="Copy" />
              </span>
              <span className="k">Connected peers</span>
              <span className="v">
                <strong data-testid="network-peers-count">{net.peers?.length ?? 0}</strong>
              </span>
              <span className="k">Routing table</span>
              <span className="v">
                <strong data-testid="network-routing-table">{net.routing_table}</strong> peers
              </span>
              <span className="k">DHT</span>
              <span className="v">
                <span data-testid="network-dht-ready" data-ready={net.dht_ready ? "true" : "false"} className={net.dht_ready ? "ok-text" : "warn-text"}>
                  {net.dht_ready ? "Ready" : "Not ready yet"}
                </span>
              </span>
              {net.nat && (
                <>
                  <span className="k">Reachability</span>
                  <span className="v" data-testid="network-nat">
                    {net.nat.reachability === "public"
                      ? "Reachable from the internet"
                      : net.nat.reachability === "private"
                        ? "Behind a NAT"
                        : "Not known yet"}
                  </span>
                  <span className="k">NAT type</span>
                  <span className="v" data-testid="network-nat-type" title={net.nat.nat_reason}>
                    {net.nat.nat} <span className="muted">· {net.nat.nat_reason}</span>
                  </span>
                  <span className="k">Relays</span>
                  <span className="v mono small" data-testid="network-relays">
                    {net.nat.relays?.length ? net.nat.relays.join(", ") : "No reservation (none needed, or none found yet)"}
                    {net.nat.relay_problem && (
                      <span className="warn-text" data-testid="network-relay-problem">
                        {" "}
                        · {net.nat.relay_problem}
                      </span>
                    )}
                  </span>
                </>
              )}
              {net.mailbox && (
                <>
                  <span className="k">Mailbox</span>
                  <span className="v" data-testid="network-mailbox">
                    {net.mailbox.holding ? `Holding ${net.mailbox.envelopes ?? 0} sealed messages for people who are offline` : "Not holding messages for others"}
                    {net.mailbox.last_drain && <span className="muted"> · last checked {fullTime(ms(net.mailbox.last_drain))}</span>}
                    {net.mailbox.last_drain_error && <span className="error-text"> · {net.mailbox.last_drain_error}</span>}
                  </span>
                </>
              )}
            </div>

            {!!net.nat?.contacts?.length && (
              <>
                <h3>Connections to your contacts</h3>
                <ul className="small contact-paths" data-testid="network-contact-paths">
                  {net.nat.contacts.map((c) => (
                    <li key={c.peer} data-testid="network-contact-path" data-path={c.path}>
                      <strong>{c.name}</strong>: {c.reason}
                    </li>
                  ))}
                </ul>
              </>
            )}

            <h3>Listening addresses</h3>
            <ul className="mono small addr-list" data-testid="network-addrs">
              {(net.addrs ?? []).length === 0 && <li className="muted">None yet</li>}
              {(net.addrs ?? []).map((a) => (
                <li key={a}>{a}</li>
              ))}
            </ul>

            <h3>Bootstrap peers</h3>
            <ul className="boot-list">
              {(net.bootstrap ?? []).length === 0 && <li className="muted">No bootstrap peers configured.</li>}
              {(net.bootstrap ?? []).map((b) => (
                <li key={b.addr} data-testid="network-bootstrap" data-connected={b.connected ? "true" : "false"}>
                  <span className={`dot ${b.connected ? "on" : "off"}`} aria-hidden="true" />
                  <span className="mono small wrap">{b.addr}</span>
                  <span className={b.connected ? "ok-text" : "muted"}>{b.connected ? "reachable" : "unreachable"}</span>
                </li>
              ))}
            </ul>

            <h3>Connected peers ({net.peers?.length ?? 0})</h3>
            <ul className="peer-list">
              {(net.peers ?? []).length === 0 && <li className="muted">Not connected to anyone yet.</li>}
              {(net.peers ?? []).map((p) => (
                <li key={p.peer + p.addr}>
                  <span className="mono small" title={p.peer}>
                    {p.peer.slice(0, 10)}…{p.peer.slice(-6)}
                  </span>
                  <span className="mono small muted wrap">{p.addr}</span>
                  <span className="tag">{p.direction}</span>
                </li>
              ))}
            </ul>
          </>
        )}
      </div>
    </Dialog>
  );
}
