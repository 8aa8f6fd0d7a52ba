// Form drafts (what the inputs hold), their messages, and field violations shown
// next to the field whose path they name (`spec.pools[0].members[1].port`).
import { create } from "@bufbuild/protobuf";
import {
  type HealthMonitor,
  HealthMonitor_Type,
  type Listener,
  Listener_Protocol,
  ListenerSchema,
  Pool_Algorithm,
  type PoolMember,
  PoolMemberSchema,
  type Pool,
  PoolSchema,
  SessionPersistence_Type,
} from "@quantix-lb/client/network";
import { createContext, type ReactNode, useContext, useId } from "react";

import type { Violation } from "./transport";

// --- drafts ----------------------------------------------------------------------------

export interface MemberDraft {
  name: string;
  address: string;
  port: string;
  weight: string;
}

export interface MonitorDraft {
  enabled: boolean;
  type: HealthMonitor_Type;
  delay: string; // seconds, may be fractional
  timeout: string;
  maxRetries: string;
  healthyThreshold: string;
  httpMethod: string;
  urlPath: string;
  expectedCodes: string;
  domainName: string;
  tlsVerify: boolean;
}

export interface PoolDraft {
  name: string;
  algorithm: Pool_Algorithm;
  members: MemberDraft[];
  monitor: MonitorDraft;
  persistence: SessionPersistence_Type;
  persistenceTimeout: string;
}

export interface ListenerDraft {
  name: string;
  protocol: Listener_Protocol;
  port: string;
  pool: string; // a pool's name (create) or id (add listener)
}

export const newMember = (): MemberDraft => ({ name: "", address: "", port: "", weight: "" });

export const newMonitor = (): MonitorDraft => ({
  enabled: true,
  type: HealthMonitor_Type.TCP,
  delay: "5",
  timeout: "3",
  maxRetries: "3",
  healthyThreshold: "",
  httpMethod: "GET",
  urlPath: "/",
  expectedCodes: "200",
  domainName: "",
  tlsVerify: false,
});

export const newPool = (name = ""): PoolDraft => ({
  name,
  algorithm: Pool_Algorithm.ROUND_ROBIN,
  members: [newMember()],
  monitor: newMonitor(),
  persistence: SessionPersistence_Type.NONE,
  persistenceTimeout: "",
});

export const newListener = (pool = ""): ListenerDraft => ({
  name: "",
  protocol: Listener_Protocol.TCP,
  port: "",
  pool,
});

// --- drafts → messages -------------------------------------------------------------------

/** Turns drafts into messages; what cannot even be sent (a port of "8.5") becomes a
 * violation at its path, in the server's words' shape. */
export class Builder {
  readonly violations: Violation[] = [];

  /** A whole number, or undefined when empty (the server then applies its default or
   * names the field). */
  whole(text: string, path: string): number | undefined {
    const t = text.trim();
    if (t === "") return undefined;
    const n = Number(t);
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
      this.violations.push({ field: path, description: "must be a whole number" });
      return undefined;
    }
    return n;
  }

  /** Seconds as typed: whole → `<name>`, fractional → `<name>_ms`. */
  seconds(text: string, path: string): { whole?: number; ms?: number } {
    const t = text.trim();
    if (t === "") return {};
    const s = Number(t);
    if (!Number.isFinite(s) || s < 0) {
      this.violations.push({ field: path, description: "must be a number of seconds" });
      return {};
    }
    return Number.isInteger(s) ? { whole: s } : { ms: Math.round(s * 1000) };
  }

  member(d: MemberDraft, path: string): PoolMember {
    return create(PoolMemberSchema, {
      name: d.name.trim(),
      address: d.address.trim(),
      port: this.whole(d.port, `${path}.port`) ?? 0,
      weight: this.whole(d.weight, `${path}.weight`),
    });
  }

  pool(d: PoolDraft, path: string): Pool {
    const m = d.monitor;
    const delay = this.seconds(m.delay, `${path}.health_monitor.delay`);
    const timeout = this.seconds(m.timeout, `${path}.health_monitor.timeout`);
    const http = m.type === HealthMonitor_Type.HTTP || m.type === HealthMonitor_Type.HTTPS;
    return create(PoolSchema, {
      name: d.name.trim(),
      algorithm: d.algorithm,
      members: d.members.map((md, j) => this.member(md, `${path}.members[${j}]`)),
      healthMonitor: m.enabled
        ? {
            type: m.type,
            delay: delay.whole ?? 0,
            delayMs: delay.ms ?? 0,
            timeout: timeout.whole ?? 0,
            timeoutMs: timeout.ms ?? 0,
            maxRetries: this.whole(m.maxRetries, `${path}.health_monitor.max_retries`) ?? 0,
            healthyThreshold: this.whole(m.healthyThreshold, `${path}.health_monitor.healthy_threshold`) ?? 0,
            httpMethod: http ? m.httpMethod.trim() : "",
            urlPath: http ? m.urlPath.trim() : "",
            expectedCodes: http ? m.expectedCodes.trim() : "",
            domainName: http ? m.domainName.trim() : "",
            tlsVerify: m.type === HealthMonitor_Type.HTTPS && m.tlsVerify,
          }
        : undefined,
      persistence:
        d.persistence === SessionPersistence_Type.NONE
          ? undefined
          : { type: d.persistence, timeout: this.whole(d.persistenceTimeout, `${path}.persistence.timeout`) ?? 0 },
    });
  }

  listener(d: ListenerDraft, path: string): Listener {
    return create(ListenerSchema, {
      name: d.name.trim(),
      protocol: d.protocol,
      port: this.whole(d.port, `${path}.port`) ?? 0,
      defaultPoolId: d.pool,
    });
  }
}

/** A monitor message back into a draft (to edit a pool's monitor). */
export function monitorDraft(m: HealthMonitor | undefined): MonitorDraft {
  if (!m) return { ...newMonitor(), enabled: false };
  return {
    enabled: true,
    type: m.type,
    delay: m.delayMs ? String(m.delayMs / 1000) : String(m.delay),
    timeout: m.timeoutMs ? String(m.timeoutMs / 1000) : String(m.timeout),
    maxRetries: String(m.maxRetries),
    healthyThreshold: m.healthyThreshold ? String(m.healthyThreshold) : "",
    httpMethod: m.httpMethod || "GET",
    urlPath: m.urlPath || "/",
    expectedCodes: m.expectedCodes || "200",
    domainName: m.domainName,
    tlsVerify: m.tlsVerify,
  };
}

// --- violations --------------------------------------------------------------------------

const ViolationsContext = createContext<readonly Violation[]>([]);

export function Violations({ of, children }: { of: readonly Violation[]; children: ReactNode }) {
  return <ViolationsContext.Provider value={of}>{children}</ViolationsContext.Provider>;
}

/** A labelled input; the violations naming `path` (or one of `also`) show under it. */
export function Field({
  label,
  path,
  also = [],
  wide = false,
  children,
}: {
  label: string;
  path: string;
  also?: string[];
  wide?: boolean;
  children: (id: string) => ReactNode;
}) {
  const id = useId();
  const paths = [path, ...also];
  const mine = useContext(ViolationsContext).filter((v) => paths.includes(v.field));
  return (
    <div className={`field${mine.length ? " invalid" : ""}${wide ? " wide" : ""}`} data-path={path}>
      <label htmlFor={id}>{label}</label>
      {children(id)}
      {mine.map((v) => (
        <span key={v.field + v.description} className="field-error" data-testid="field-error" data-field={v.field}>
          {v.description}
        </span>
      ))}
    </div>
  );
}

/** Every violation of a failed request, in one list (also those no field shows). */
export function ViolationList({ violations }: { violations: readonly Violation[] }) {
  if (!violations.length) return null;
  return (
    <ul className="violations" data-testid="violations" role="alert">
      {violations.map((v) => (
        <li key={v.field + v.description}>
          <code>{v.field}</code>: {v.description}
        </li>
      ))}
    </ul>
  );
}
