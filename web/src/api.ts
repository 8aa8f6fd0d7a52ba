// The query cache is the page's one copy of the server's state: the watch stream
// fills and updates it, mutations write their answers into it.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { WatchLoadBalancersResponse_Type as Ev, type LoadBalancerStats } from "@quantix-lb/client";
import type { LoadBalancer } from "@quantix-lb/client/network";
import { type QueryClient, skipToken, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";

import { client, isUnauthenticated, messageOf } from "./transport";

export type LoadBalancers = ReadonlyMap<string, LoadBalancer>;

const LBS = ["loadBalancers"] as const;
const statsKey = (id: string) => ["stats", id] as const;

/** Every visible load balancer, as the watch stream last told (undefined until its snapshot). */
export function useLoadBalancers() {
  return useQuery<LoadBalancers>({ queryKey: LBS, queryFn: skipToken, staleTime: Infinity });
}

function updatedMs(lb: LoadBalancer): number {
  return lb.updatedAt ? timestampMs(lb.updatedAt) : 0;
}

/** A mutation's answer: newer than what the cache holds, or the watch already told more. */
export function remember(qc: QueryClient, lb: LoadBalancer): void {
  qc.setQueryData<LoadBalancers>(LBS, (old) => {
    const known = old?.get(lb.id);
    if (known && updatedMs(known) >= updatedMs(lb)) return old;
    return new Map(old).set(lb.id, lb);
  });
}

/** Gone: its figures stay for a page that still shows it (useStats stops asking). */
export function forget(qc: QueryClient, id: string): void {
  qc.setQueryData<LoadBalancers>(LBS, (old) => {
    if (!old?.has(id)) return old;
    const next = new Map(old);
    next.delete(id);
    return next;
  });
  void qc.cancelQueries({ queryKey: statsKey(id) });
}

// --- statistics --------------------------------------------------------------------

/** Figures at one moment (client time, ms); undefined: unavailable. */
export interface Sample {
  t: number;
  active?: number;
  rps?: number;
  listeners: Record<string, { active?: number; rps?: number }>;
  members: Record<string, { active?: number }>;
}

export interface StatsSeries {
  latest: LoadBalancerStats;
  samples: Sample[];
}

/** How far back the plots look. */
export const WINDOW_MS = 5 * 60_000;

const num = (v: bigint | number | undefined) => (v === undefined ? undefined : Number(v));

function withSample(old: StatsSeries | undefined, stats: LoadBalancerStats): StatsSeries {
  const t = Date.now();
  const sample: Sample = {
    t,
    active: num(stats.activeConnections),
    rps: stats.requestsPerSecond,
    listeners: {},
    members: {},
  };
  for (const l of stats.listenerStats) {
    sample.listeners[l.listenerId] = { active: num(l.activeConnections), rps: l.requestsPerSecond };
  }
  for (const m of stats.memberStats) sample.members[m.memberId] = { active: num(m.activeConnections) };
  // Keep one sample from before the window, so the plot starts at its left edge.
  const kept = (old?.samples ?? []).filter((s, i, all) => s.t >= t - WINDOW_MS || all[i + 1]?.t >= t - WINDOW_MS);
  return { latest: stats, samples: [...kept, sample] };
}

/** A load balancer's figures and their recent history: fetched once, then kept
 * current by the watch stream's STATS events. */
export function useStats(id: string, exists = true) {
  const qc = useQueryClient();
  return useQuery<StatsSeries>({
    queryKey: statsKey(id),
    enabled: exists,
    queryFn: async ({ signal }) =>
      withSample(qc.getQueryData(statsKey(id)), await client.getLoadBalancerStats({ id }, { signal })),
    staleTime: Infinity,
    retry: (count, err) => count < 2 && !(err instanceof ConnectError && err.code === Code.NotFound),
  });
}

function recordStats(qc: QueryClient, stats: LoadBalancerStats): void {
  qc.setQueryData<StatsSeries>(statsKey(stats.loadBalancerId), (old) => withSample(old, stats));
}

// --- the watch stream ----------------------------------------------------------------

export type Connection =
  | { state: "connecting" }
  | { state: "live" }
  | { state: "disconnected"; retryAt: number; reason: string }
  | { state: "unauthenticated" };

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 5_000;

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}

/** Follows WatchLoadBalancers (with statistics) into the query cache, reconnecting by
 * itself with backoff; `epoch` restarts it (a new token). */
export function useWatch(epoch: number, onUnauthenticated: () => void): Connection {
  const qc = useQueryClient();
  const [connection, setConnection] = useState<Connection>({ state: "connecting" });

  useEffect(() => {
    const abort = new AbortController();
    const { signal } = abort;
    (async () => {
      let retry = FIRST_RETRY_MS;
      while (!signal.aborted) {
        setConnection({ state: "connecting" });
        const snapshot = new Map<string, LoadBalancer>();
        try {
          for await (const ev of client.watchLoadBalancers({ includeStats: true }, { signal })) {
            switch (ev.type) {
              case Ev.EXISTING:
                if (ev.loadBalancer) snapshot.set(ev.loadBalancer.id, ev.loadBalancer);
                break;
              case Ev.SNAPSHOT_COMPLETE:
                // The snapshot replaces all: what was deleted while disconnected goes.
                qc.setQueryData<LoadBalancers>(LBS, snapshot);
                // Figures may have changed unseen while disconnected.
                void qc.invalidateQueries({
                  queryKey: ["stats"],
                  predicate: (q) => snapshot.has(q.queryKey[1] as string),
                });
                setConnection({ state: "live" });
                retry = FIRST_RETRY_MS;
                break;
              case Ev.CREATED:
              case Ev.UPDATED:
                if (ev.loadBalancer) {
                  const lb = ev.loadBalancer;
                  qc.setQueryData<LoadBalancers>(LBS, (old) => new Map(old).set(lb.id, lb));
                }
                break;
              case Ev.DELETED:
                if (ev.loadBalancer) forget(qc, ev.loadBalancer.id);
                break;
              case Ev.STATS:
                if (ev.stats) recordStats(qc, ev.stats);
                break;
            }
          }
          throw new Error("the server ended the watch stream");
        } catch (err) {
          if (signal.aborted) return;
          if (isUnauthenticated(err)) {
            setConnection({ state: "unauthenticated" });
            onUnauthenticated();
            return;
          }
          setConnection({ state: "disconnected", retryAt: Date.now() + retry, reason: messageOf(err) });
          await pause(retry, signal);
          retry = Math.min(retry * 2, MAX_RETRY_MS);
        }
      }
    })();
    return () => abort.abort();
    // onUnauthenticated is stable (the auth context's).
  }, [epoch, qc]);

  return connection;
}

// --- mutations -------------------------------------------------------------------------

/** A change whose answer is the load balancer: it goes into the cache at once (the
 * watch's UPDATED for it follows). */
export function useLbMutation<V>(change: (vars: V) => Promise<LoadBalancer>) {
  const qc = useQueryClient();
  return useMutation({ mutationFn: change, onSuccess: (lb) => remember(qc, lb) });
}

export function useDeleteLoadBalancer() {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async (id: string) => {
      await client.deleteLoadBalancer({ id });
      return id;
    },
    onSuccess: (id) => forget(qc, id),
  });
}
