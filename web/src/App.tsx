// The page: list, create form or one load balancer (by the URL's hash), kept live by
// the watch stream.
import { useEffect, useMemo, useRef, useState } from "react";

import { useLoadBalancers, useWatch } from "./api";
import { useAuth } from "./auth";
import { ConnectionBanner, ConnectionState, TokenPrompt } from "./components/Chrome";
import { CreateForm } from "./components/CreateForm";
import { Detail } from "./components/Detail";
import { LoadBalancerList } from "./components/LoadBalancerList";
import { memberCounts } from "./format";

type Route = { view: "list" } | { view: "new" } | { view: "lb"; id: string };

function parse(hash: string): Route {
  if (hash === "#/new") return { view: "new" };
  const m = /^#\/lb\/(.+)$/.exec(hash);
  return m ? { view: "lb", id: decodeURIComponent(m[1]) } : { view: "list" };
}

function useRoute(): [Route, (hash: string) => void] {
  const [route, setRoute] = useState(() => parse(window.location.hash));
  useEffect(() => {
    const onHash = () => setRoute(parse(window.location.hash));
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  return [route, (hash) => (window.location.hash = hash)];
}

/** The clock the plots scroll with. */
function useNow(everyMs: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

export function App() {
  const auth = useAuth();
  const connection = useWatch(auth.epoch, auth.unauthenticated);
  const lbs = useLoadBalancers().data;
  const [route, go] = useRoute();
  const [search, setSearch] = useState("");
  const [project, setProject] = useState("");
  const now = useNow(1000);
  // The last state of the load balancer on screen, to say so when it is deleted.
  const lastSeen = useRef(new Map<string, NonNullable<ReturnType<NonNullable<typeof lbs>["get"]>>>());

  const items = useMemo(
    () => [...(lbs?.values() ?? [])].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id)),
    [lbs],
  );
  const projects = useMemo(() => [...new Set(items.map((lb) => lb.projectId))].sort(), [items]);
  const counts = items.map(memberCounts);
  const healthy = counts.reduce((n, c) => n + c.healthy, 0);
  const total = counts.reduce((n, c) => n + c.total, 0);

  let body;
  if (lbs === undefined) {
    body = (
      <p className="panel muted">
        {connection.state === "unauthenticated" ? "Sign in to see load balancers." : "Connecting to quantix-lb…"}
      </p>
    );
  } else if (route.view === "new") {
    body = (
      <CreateForm
        projects={projects}
        defaultProject={project || (projects.length === 1 ? projects[0] : "")}
        onCreated={(id) => go(`#/lb/${id}`)}
        onCancel={() => go("#/")}
      />
    );
  } else if (route.view === "lb") {
    const lb = lbs.get(route.id);
    if (lb) lastSeen.current.set(lb.id, lb);
    const shown = lb ?? lastSeen.current.get(route.id);
    body = shown ? (
      <Detail key={shown.id} lb={shown} deleted={!lb} now={now} onClose={() => go("#/")} />
    ) : (
      <p className="panel" data-testid="not-found">
        No load balancer <code>{route.id}</code> is visible. <a href="#/">All load balancers</a>
      </p>
    );
  } else {
    body = (
      <LoadBalancerList
        items={items}
        search={search}
        onSearch={setSearch}
        project={project}
        onProject={setProject}
        projects={projects}
        onOpen={(id) => go(`#/lb/${id}`)}
      />
    );
  }

  return (
    <>
      <div className="top">
        <header>
          <h1>
            <a href="#/">quantix-lb</a> <span className="muted">Load balancers</span>
          </h1>
          <div className="summary-cards">
            <span>
              <b data-testid="count-lbs">{items.length}</b> load balancers
            </span>
            <span>
              <b data-testid="count-members">
                {healthy}/{total}
              </b>{" "}
              members healthy
            </span>
          </div>
          <ConnectionState connection={connection} />
          {auth.hasToken && (
            <button type="button" className="link" onClick={auth.forget}>
              Sign out
            </button>
          )}
          {route.view !== "new" && lbs !== undefined && (
            <button type="button" className="primary" data-testid="new-lb" onClick={() => go("#/new")}>
              New load balancer
            </button>
          )}
        </header>
        <ConnectionBanner connection={connection} hadData={lbs !== undefined} />
      </div>
      <main className={connection.state === "live" ? "" : "stale"}>{body}</main>
      {auth.asking && <TokenPrompt />}
    </>
  );
}
