// How statuses, enums and figures read on the page.
import {
  HealthMonitor_Type,
  type LoadBalancer,
  Listener_Protocol,
  LoadBalancerStatus_Phase,
  Pool_Algorithm,
  type PoolMember,
  SessionPersistence_Type,
} from "@quantix-lb/client/network";

export const protocolName = (p: Listener_Protocol) => Listener_Protocol[p] ?? `protocol ${p}`;
export const algorithmName = (a: Pool_Algorithm) => Pool_Algorithm[a] ?? `algorithm ${a}`;
export const monitorTypeName = (t: HealthMonitor_Type) => HealthMonitor_Type[t] ?? `type ${t}`;
export const persistenceName = (t: SessionPersistence_Type) => SessionPersistence_Type[t] ?? `type ${t}`;
export const phaseName = (p: LoadBalancerStatus_Phase) => LoadBalancerStatus_Phase[p] ?? `phase ${p}`;

/** The values of a generated (numeric) enum, in declaration order. */
export function enumValues<E extends Record<string, string | number>>(e: E): E[keyof E][] {
  return Object.values(e).filter((v) => typeof v === "number") as E[keyof E][];
}

/** ONLINE and NO_MONITOR take traffic (as the server's MemberStats.healthy says). */
export function isHealthy(m: PoolMember): boolean {
  return m.operatingStatus === "ONLINE" || m.operatingStatus === "NO_MONITOR";
}

export function memberCounts(lb: LoadBalancer): { healthy: number; total: number } {
  const members = lb.spec?.pools.flatMap((p) => p.members) ?? [];
  return { healthy: members.filter(isHealthy).length, total: members.length };
}

/** An Octavia status word's colour class. */
export function tone(status: string): string {
  switch (status) {
    case "ONLINE":
    case "ACTIVE":
      return "good";
    case "ERROR":
      return "bad";
    case "DEGRADED":
    case "DRAINING":
    case "PENDING":
    case "DELETING":
      return "warn";
    default:
      return status.startsWith("PENDING") ? "warn" : "muted";
  }
}

export function figure(v: number | bigint | undefined, digits = 0): string {
  if (v === undefined) return "—";
  const n = Number(v);
  return n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function bytes(v: bigint | undefined): string {
  if (v === undefined) return "—";
  const n = Number(v);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${x.toFixed(i ? 1 : 0)} ${units[i]}`;
}
