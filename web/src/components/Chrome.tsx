// The connection banner and the token prompt.
import { type FormEvent, useEffect, useState } from "react";

import type { Connection } from "../api";
import { useAuth } from "../auth";

/** Shown while the watch stream is down: what is on screen may be out of date. */
export function ConnectionBanner({ connection, hadData }: { connection: Connection; hadData: boolean }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (connection.state !== "disconnected") return;
    const timer = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(timer);
  }, [connection.state]);
  if (connection.state === "live" || connection.state === "unauthenticated") return null;
  if (connection.state === "connecting" && !hadData) return null;
  const wait = connection.state === "disconnected" ? Math.max(0, Math.ceil((connection.retryAt - now) / 1000)) : 0;
  return (
    <div className="banner" role="alert" data-testid="connection-banner">
      <b>Disconnected</b> from quantix-lb: what you see may be out of date.{" "}
      {connection.state === "disconnected" ? (
        <>
          Reconnecting {wait ? `in ${wait} s` : "now"}… <span className="muted">({connection.reason})</span>
        </>
      ) : (
        "Reconnecting…"
      )}
    </div>
  );
}

export function ConnectionState({ connection }: { connection: Connection }) {
  const label = { live: "live", connecting: "connecting", disconnected: "disconnected", unauthenticated: "signed out" }[
    connection.state
  ];
  return (
    <span className={`pill ${connection.state}`} data-testid="connection-state" title="WatchLoadBalancers stream">
      ● {label}
    </span>
  );
}

export function TokenPrompt() {
  const auth = useAuth();
  const [token, setToken] = useState("");
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (token.trim()) auth.submit(token.trim());
  };
  return (
    <div className="modal" role="dialog" aria-modal="true" aria-labelledby="token-title" data-testid="token-prompt">
      <form className="panel" onSubmit={submit}>
        <h3 id="token-title">Sign in to quantix-lb</h3>
        <p>This server requires a bearer token (its --auth-tokens file). It is kept for this tab only.</p>
        {auth.refused && (
          <p className="error-box" role="alert" data-testid="token-refused">
            That token was not accepted.
          </p>
        )}
        <label htmlFor="token">Token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          autoFocus
          value={token}
          onChange={(e) => setToken(e.target.value)}
        />
        <div className="actions">
          <button type="submit" className="primary" data-testid="token-submit">
            Sign in
          </button>
        </div>
      </form>
    </div>
  );
}
