// Every visible load balancer, with its health and live figures; search and project filter.
import type { LoadBalancer } from "@quantix-lb/client/network";

import { useStats } from "../api";
import { figure, memberCounts, phaseName, protocolName } from "../format";
import { Badge } from "./Badge";

export function LoadBalancerList({
  items,
  search,
  onSearch,
  project,
  onProject,
  projects,
  onOpen,
}: {
  items: LoadBalancer[];
  search: string;
  onSearch: (s: string) => void;
  project: string;
  onProject: (p: string) => void;
  projects: string[];
  onOpen: (id: string) => void;
}) {
  const needle = search.trim().toLowerCase();
  const shown = items.filter(
    (lb) =>
      (!project || lb.projectId === project) &&
      (!needle ||
        [lb.name, lb.id, lb.spec?.vipAddress, lb.status?.vipAddress, lb.spec?.networkId, lb.description].some((f) =>
          f?.toLowerCase().includes(needle),
        )),
  );
  const totals = shown
    .map(memberCounts)
    .reduce((a, b) => ({ healthy: a.healthy + b.healthy, total: a.total + b.total }), { healthy: 0, total: 0 });
  return (
    <section className="panel">
      <div className="toolbar">
        <input
          type="search"
          data-testid="search"
          aria-label="Search load balancers"
          placeholder="Search name, id, VIP, network…"
          value={search}
          onChange={(e) => onSearch(e.target.value)}
        />
        <select
          data-testid="project-filter"
          aria-label="Project"
          value={project}
          onChange={(e) => onProject(e.target.value)}
        >
          <option value="">All projects</option>
          {projects.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
        <span className="muted" data-testid="summary">
          {shown.length} of {items.length} load balancers · {totals.healthy}/{totals.total} members healthy
        </span>
      </div>
      {shown.length === 0 ? (
        <p className="empty" data-testid="empty">
          {items.length ? "No load balancer matches." : "No load balancers yet."}
        </p>
      ) : (
        <table className="lbs">
          <thead>
            <tr>
              <th>Name</th>
              <th>VIP</th>
              <th>Network</th>
              <th>Project</th>
              <th>Listeners</th>
              <th>Members</th>
              <th>Status</th>
              <th>Open</th>
              <th>Conn/s</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((lb) => (
              <Row key={lb.id} lb={lb} onOpen={onOpen} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Row({ lb, onOpen }: { lb: LoadBalancer; onOpen: (id: string) => void }) {
  const stats = useStats(lb.id).data?.latest;
  const { healthy, total } = memberCounts(lb);
  const unavailable = stats?.unavailableReason;
  return (
    <tr
      data-testid="lb-row"
      data-lb-name={lb.name}
      data-lb-id={lb.id}
      onClick={() => onOpen(lb.id)}
      className="clickable"
    >
      <td>
        <a
          href={`#/lb/${lb.id}`}
          onClick={(e) => {
            e.stopPropagation();
          }}
        >
          {lb.name || lb.id}
        </a>
      </td>
      <td>
        <code>{lb.status?.vipAddress || lb.spec?.vipAddress || "—"}</code>
      </td>
      <td>
        <code>{lb.spec?.networkId}</code>
      </td>
      <td>{lb.projectId}</td>
      <td>{lb.spec?.listeners.map((l) => `${protocolName(l.protocol)} ${l.port}`).join(", ") || "—"}</td>
      <td data-testid="lb-members" className={healthy < total ? "warn" : ""}>
        {healthy}/{total}
      </td>
      <td>
        <Badge status={lb.status ? phaseName(lb.status.phase) : ""} />{" "}
        <Badge status={lb.status?.operatingStatus ?? ""} testid="lb-row-operating" />
      </td>
      <td className="num" title={unavailable || undefined}>
        {figure(stats?.activeConnections)}
      </td>
      <td className="num" title={unavailable || undefined}>
        {figure(stats?.requestsPerSecond, 1)}
      </td>
    </tr>
  );
}
