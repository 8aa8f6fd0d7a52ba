// One load balancer: its listeners, pools and members with their health, live
// statistics, and every change the API offers on them.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { LoadBalancer, Pool, PoolMember } from "@quantix-lb/client/network";
import { type FormEvent, type ReactNode, useState } from "react";

import { type Sample, type StatsSeries, useDeleteLoadBalancer, useLbMutation, useStats } from "../api";
import { algorithmName, figure, isHealthy, monitorTypeName, persistenceName, phaseName, protocolName } from "../format";
import { Builder, newListener, newMember, newPool, ViolationList, Violations } from "../form";
import { client, messageOf, type Violation, violationsOf } from "../transport";
import { Badge } from "./Badge";
import { type EditorProps, ListenerEditor, MemberEditor, PoolEditor } from "./Editors";
import { Sparkline, StatsPanel } from "./StatsPlot";

/** A change to the load balancer with its own error display. */
function useChange<V>(change: (vars: V) => Promise<LoadBalancer>) {
  const mutation = useLbMutation(change);
  const [violations, setViolations] = useState<Violation[]>([]);
  const [error, setError] = useState("");
  const run = (vars: V, done?: () => void) => {
    setError("");
    setViolations([]);
    mutation.mutate(vars, {
      onSuccess: () => done?.(),
      onError: (err) => {
        const found = violationsOf(err);
        setViolations(found);
        setError(found.length ? "" : messageOf(err));
      },
    });
  };
  const fail = (local: Violation[]) => setViolations(local);
  return { run, fail, pending: mutation.isPending, violations, error };
}

function Problems({ error, violations }: { error: string; violations: Violation[] }) {
  if (!error && !violations.length) return null;
  return (
    <div className="error-box" role="alert" data-testid="action-error">
      {error && <p>{error}</p>}
      <ViolationList violations={violations} />
    </div>
  );
}

/** A button that asks once more before it acts. */
function ConfirmButton({
  label,
  onConfirm,
  testid,
  disabled,
}: {
  label: string;
  onConfirm: () => void;
  testid: string;
  disabled?: boolean;
}) {
  const [armed, setArmed] = useState(false);
  return armed ? (
    <span className="confirm">
      <button
        type="button"
        className="danger"
        data-testid={`${testid}-confirm`}
        onClick={() => (setArmed(false), onConfirm())}
      >
        {label}?
      </button>
      <button type="button" className="link" onClick={() => setArmed(false)}>
        keep
      </button>
    </span>
  ) : (
    <button
      type="button"
      className="link danger"
      data-testid={testid}
      disabled={disabled}
      onClick={() => setArmed(true)}
    >
      {label}
    </button>
  );
}

export function Detail({
  lb,
  deleted,
  now,
  onClose,
}: {
  lb: LoadBalancer;
  deleted: boolean;
  now: number;
  onClose: () => void;
}) {
  const stats = useStats(lb.id, !deleted);
  const del = useDeleteLoadBalancer();
  const [confirming, setConfirming] = useState(false);
  const spec = lb.spec;
  const status = lb.status;
  const pools = spec?.pools ?? [];
  const poolName = (id: string) => pools.find((p) => p.id === id)?.name || id;

  return (
    <div className="detail" data-testid="detail" data-lb-id={lb.id}>
      <div className="detail-head panel">
        <div>
          <button type="button" className="link" onClick={onClose}>
            ← All load balancers
          </button>
          <h2 data-testid="detail-name">{lb.name || lb.id}</h2>
          <p className="muted">
            <code>{lb.id}</code>
            {lb.description && ` · ${lb.description}`}
          </p>
          {deleted && (
            <p className="error-box" role="alert">
              This load balancer has been deleted.
            </p>
          )}
        </div>
        <dl className="facts">
          <dt>Phase</dt>
          <dd>
            <Badge status={status ? phaseName(status.phase) : ""} testid="lb-phase" />
          </dd>
          <dt>Provisioning</dt>
          <dd>
            <Badge status={status?.provisioningStatus ?? ""} />
          </dd>
          <dt>Operating</dt>
          <dd>
            <Badge status={status?.operatingStatus ?? ""} testid="lb-operating" />
          </dd>
          {status?.errorMessage && (
            <>
              <dt>Error</dt>
              <dd className="bad">{status.errorMessage}</dd>
            </>
          )}
          <dt>VIP</dt>
          <dd>
            <code data-testid="detail-vip">{status?.vipAddress || spec?.vipAddress || "—"}</code>
          </dd>
          <dt>Network</dt>
          <dd>
            <code>{spec?.networkId}</code>
            {spec?.subnetId && <> / {spec.subnetId}</>}
          </dd>
          <dt>Project</dt>
          <dd>{lb.projectId}</dd>
          <dt>Created</dt>
          <dd>{lb.createdAt ? timestampDate(lb.createdAt).toLocaleString() : "—"}</dd>
        </dl>
        {!deleted && (
          <div className="actions">
            <button type="button" className="danger" data-testid="delete-lb" onClick={() => setConfirming(true)}>
              Delete…
            </button>
          </div>
        )}
      </div>
      {del.error && <Problems error={messageOf(del.error)} violations={[]} />}
      {confirming && (
        <div
          className="modal"
          role="dialog"
          aria-modal="true"
          aria-labelledby="confirm-title"
          data-testid="confirm-dialog"
        >
          <div className="panel">
            <h3 id="confirm-title">Delete {lb.name || lb.id}?</h3>
            <p>Its listeners, pools and members go with it, and its VIP stops answering.</p>
            <div className="actions">
              <button
                type="button"
                className="danger"
                data-testid="confirm-delete"
                disabled={del.isPending}
                onClick={() => del.mutate(lb.id, { onSuccess: onClose, onSettled: () => setConfirming(false) })}
              >
                {del.isPending ? "Deleting…" : "Delete"}
              </button>
              <button type="button" onClick={() => setConfirming(false)} autoFocus>
                Cancel
              </button>
            </div>
          </div>
        </div>
      )}

      <StatsPanel series={stats.data} now={now} />
      {stats.error && <Problems error={messageOf(stats.error)} violations={[]} />}

      <Listeners lb={lb} series={stats.data} now={now} poolName={poolName} readOnly={deleted} />
      {pools.map((pool) => (
        <PoolSection key={pool.id} lb={lb} pool={pool} series={stats.data} now={now} readOnly={deleted} />
      ))}
      {!deleted && (
        <section className="panel">
          <AddPart
            noun="pool"
            initial={() => newPool(`pool-${pools.length + 1}`)}
            editor={(props) => <PoolEditor {...props} />}
            build={(b, draft, path) => b.pool(draft, path)}
            send={(pool) => client.addPool({ loadBalancerId: lb.id, pool })}
          />
        </section>
      )}
    </div>
  );
}

/** What each section below the head is drawn from. */
interface SectionProps {
  lb: LoadBalancer;
  series: StatsSeries | undefined;
  now: number;
  /** A deleted load balancer: shown, no longer changed. */
  readOnly: boolean;
}

function Listeners({ lb, series, now, poolName, readOnly }: SectionProps & { poolName: (id: string) => string }) {
  const remove = useChange((listenerId: string) => client.removeListener({ loadBalancerId: lb.id, listenerId }));
  const listeners = lb.spec?.listeners ?? [];
  const pools = lb.spec?.pools ?? [];
  const byId = new Map((series?.latest.listenerStats ?? []).map((s) => [s.listenerId, s]));
  return (
    <section className="panel">
      <h3>Listeners</h3>
      <Problems error={remove.error} violations={remove.violations} />
      <table>
        <thead>
          <tr>
            <th>Listener</th>
            <th>Protocol / port</th>
            <th>Pool</th>
            <th>Provisioning</th>
            <th>Operating</th>
            <th>Open</th>
            <th>Conn/s</th>
            <th>Last minutes</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {listeners.map((l) => {
            const s = byId.get(l.id);
            return (
              <tr key={l.id} data-testid="listener-row" data-port={l.port}>
                <td>{l.name || <code className="muted">{l.id}</code>}</td>
                <td>
                  {protocolName(l.protocol)} {l.port}
                </td>
                <td>{poolName(l.defaultPoolId)}</td>
                <td>
                  <Badge status={l.provisioningStatus} />
                </td>
                <td>
                  <Badge status={l.operatingStatus} />
                </td>
                <td className="num">{figure(s?.activeConnections)}</td>
                <td className="num">{figure(s?.requestsPerSecond, 1)}</td>
                <td>
                  <MiniPlot samples={series?.samples} value={(x) => x.listeners[l.id]?.active} now={now} />
                </td>
                <td>
                  {!readOnly && (
                    <ConfirmButton
                      label="Remove"
                      testid="listener-remove"
                      disabled={remove.pending}
                      onConfirm={() => remove.run(l.id)}
                    />
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {!readOnly && (
        <AddPart
          noun="listener"
          initial={() => newListener(pools.length === 1 ? pools[0].id : "")}
          editor={(props) => <ListenerEditor {...props} pools={pools.map((p) => [p.id, p.name || p.id])} />}
          build={(b, draft, path) => b.listener(draft, path)}
          send={(listener) => client.addListener({ loadBalancerId: lb.id, listener })}
        />
      )}
    </section>
  );
}

function MiniPlot({
  samples,
  value,
  now,
}: {
  samples: Sample[] | undefined;
  value: (s: Sample) => number | undefined;
  now: number;
}) {
  if (!samples) return null;
  return (
    <span className="mini">
      <Sparkline samples={samples} value={value} now={now} label="" />
    </span>
  );
}

function Collapsible({
  label,
  testid,
  children,
}: {
  label: string;
  testid: string;
  children: (close: () => void) => ReactNode;
}) {
  const [open, setOpen] = useState(false);
  return open ? (
    <div className="add-form" data-testid={testid}>
      {children(() => setOpen(false))}
    </div>
  ) : (
    <button type="button" className="link" data-testid={`${testid}-open`} onClick={() => setOpen(true)}>
      + {label}
    </button>
  );
}

/** What adding one listener, pool or member takes: a fresh draft, its editor, the
 * message built from it (at path `noun`, as the server names its fields) and the call. */
interface AddProps<D, T> {
  noun: "listener" | "pool" | "member";
  initial: () => D;
  editor: (props: EditorProps<D>) => ReactNode;
  build: (b: Builder, draft: D, path: string) => T;
  send: (part: T) => Promise<LoadBalancer>;
}

/** "+ noun", opening a form that adds one; closing it forgets the draft. */
function AddPart<D, T>(props: AddProps<D, T>) {
  return (
    <Collapsible label={props.noun} testid={`add-${props.noun}`}>
      {(close) => <AddForm {...props} close={close} />}
    </Collapsible>
  );
}

function AddForm<D, T>({ noun, initial, editor, build, send, close }: AddProps<D, T> & { close: () => void }) {
  const [draft, setDraft] = useState<D>(initial);
  const add = useChange(send);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const b = new Builder();
    const part = build(b, draft, noun);
    if (b.violations.length) return add.fail(b.violations);
    add.run(part, close);
  };
  return (
    <form onSubmit={submit} noValidate>
      <Violations of={add.violations}>
        <Problems error={add.error} violations={add.violations} />
        {editor({ value: draft, onChange: setDraft, path: noun })}
      </Violations>
      <div className="actions">
        <button type="submit" className="primary" data-testid={`add-${noun}-submit`} disabled={add.pending}>
          {`Add ${noun}`}
        </button>
        <button type="button" onClick={close}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function PoolSection({ lb, pool, series, now, readOnly }: SectionProps & { pool: Pool }) {
  const remove = useChange(() => client.removePool({ loadBalancerId: lb.id, poolId: pool.id }));
  const m = pool.healthMonitor;
  const healthy = pool.members.filter(isHealthy).length;
  return (
    <section className="panel pool" data-testid="pool" data-pool-name={pool.name}>
      <div className="pool-head">
        <h3>
          Pool {pool.name || <code>{pool.id}</code>}{" "}
          <small className="muted">
            {healthy}/{pool.members.length} healthy
          </small>
        </h3>
        <span>
          <Badge status={pool.provisioningStatus} /> <Badge status={pool.operatingStatus} testid="pool-operating" />
        </span>
        {!readOnly && (
          <ConfirmButton
            label="Remove pool"
            testid="pool-remove"
            disabled={remove.pending}
            onConfirm={() => remove.run(undefined)}
          />
        )}
      </div>
      <p className="muted">
        {algorithmName(pool.algorithm)}
        {pool.protocol !== undefined && ` · ${protocolName(pool.protocol)}`}
        {pool.persistence &&
          ` · persistence ${persistenceName(pool.persistence.type)}${pool.persistence.timeout ? ` ${pool.persistence.timeout} s` : ""}`}
        {m
          ? ` · ${monitorTypeName(m.type)} monitor every ${m.delayMs ? m.delayMs / 1000 : m.delay} s, timeout ${
              m.timeoutMs ? m.timeoutMs / 1000 : m.timeout
            } s, ${m.maxRetries} retries${m.urlPath ? `, ${m.httpMethod} ${m.urlPath} → ${m.expectedCodes}` : ""}`
          : " · no health monitor"}
        {pool.statusReason && ` · ${pool.statusReason}`}
      </p>
      <Problems error={remove.error} violations={remove.violations} />
      <Members lb={lb} pool={pool} series={series} now={now} readOnly={readOnly} />
      {!readOnly && (
        <AddPart
          noun="member"
          initial={newMember}
          editor={(props) => <MemberEditor {...props} />}
          build={(b, draft, path) => b.member(draft, path)}
          send={(member) => client.addPoolMember({ loadBalancerId: lb.id, poolId: pool.id, member })}
        />
      )}
    </section>
  );
}

function Members({ lb, pool, series, now, readOnly }: SectionProps & { pool: Pool }) {
  const byId = new Map((series?.latest.memberStats ?? []).map((s) => [s.memberId, s]));
  return (
    <table className="members">
      <thead>
        <tr>
          <th>Member</th>
          <th>Weight</th>
          <th>Admin</th>
          <th>Health</th>
          <th>Open</th>
          <th>Total</th>
          <th>Last minutes</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {pool.members.map((m) => (
          <MemberRow
            key={m.id}
            lb={lb}
            pool={pool}
            member={m}
            stats={byId.get(m.id)}
            series={series}
            now={now}
            readOnly={readOnly}
          />
        ))}
      </tbody>
    </table>
  );
}

function adminState(m: PoolMember): string {
  if (m.adminStateUp === false) return "disabled";
  return m.drain ? "draining" : "enabled";
}

/** What updating a member may change. */
type MemberPatch = { weight?: number; adminStateUp?: boolean; drain?: boolean };

function MemberRow({
  lb,
  pool,
  member,
  stats,
  series,
  now,
  readOnly,
}: SectionProps & {
  pool: Pool;
  member: PoolMember;
  stats: { activeConnections?: bigint; totalConnections?: bigint } | undefined;
}) {
  const ids = { loadBalancerId: lb.id, poolId: pool.id, memberId: member.id };
  const update = useChange((patch: MemberPatch) => client.updatePoolMember({ ...ids, ...patch }));
  const remove = useChange(() => client.removePoolMember(ids));
  const weight = String(member.weight ?? 1);
  const [editing, setEditing] = useState<string | null>(null);
  const admin = adminState(member);
  // [verb, offered in this state, the change it makes]
  const stateChanges: [string, boolean, MemberPatch][] = [
    ["enable", admin !== "enabled", { adminStateUp: true, drain: false }],
    ["disable", admin !== "disabled", { adminStateUp: false }],
    ["drain", admin === "enabled", { drain: true }],
  ];
  const saveWeight = (e: FormEvent) => {
    e.preventDefault();
    const b = new Builder();
    const w = b.whole(editing ?? weight, "weight");
    if (b.violations.length || w === undefined)
      return update.fail(b.violations.length ? b.violations : [{ field: "weight", description: "is required" }]);
    update.run({ weight: w }, () => setEditing(null));
  };
  const problems = [...update.violations, ...remove.violations];
  const error = update.error || remove.error;
  return (
    <>
      <tr data-testid="member-row" data-address={`${member.address}:${member.port}`} data-member-id={member.id}>
        <td>
          <code>
            {member.address}:{member.port}
          </code>
          {member.name && <span className="muted"> {member.name}</span>}
        </td>
        <td>
          {readOnly ? (
            weight
          ) : (
            <form className="inline" onSubmit={saveWeight}>
              <input
                aria-label="Weight"
                data-testid="member-weight"
                inputMode="numeric"
                size={3}
                value={editing ?? weight}
                onChange={(e) => setEditing(e.target.value)}
              />
              {editing !== null && editing !== weight && (
                <button type="submit" className="link" data-testid="member-weight-save" disabled={update.pending}>
                  set
                </button>
              )}
            </form>
          )}
        </td>
        <td data-testid="member-admin">{admin}</td>
        <td>
          <Badge status={member.operatingStatus} testid="member-status" />
          {member.operatingStatus === "OFFLINE" && admin !== "disabled" && pool.healthMonitor && (
            <span className="muted"> not checked yet</span>
          )}
          {member.lastFailureReason && (
            <div
              className={`failure ${member.operatingStatus === "ERROR" ? "bad" : "muted"}`}
              data-testid="member-failure"
            >
              {member.operatingStatus === "ERROR" ? "" : "last failure: "}
              {member.lastFailureReason}
            </div>
          )}
        </td>
        <td className="num" data-testid="member-active">
          {figure(stats?.activeConnections)}
        </td>
        <td className="num">{figure(stats?.totalConnections)}</td>
        <td>
          <MiniPlot samples={series?.samples} value={(x) => x.members[member.id]?.active} now={now} />
        </td>
        <td className="member-actions">
          {!readOnly && (
            <>
              {stateChanges
                .filter(([, offered]) => offered)
                .map(([verb, , patch]) => (
                  <button
                    key={verb}
                    type="button"
                    className="link"
                    data-testid={`member-${verb}`}
                    disabled={update.pending}
                    onClick={() => update.run(patch)}
                  >
                    {verb}
                  </button>
                ))}
              <ConfirmButton
                label="remove"
                testid="member-remove"
                disabled={remove.pending}
                onConfirm={() => remove.run(undefined)}
              />
            </>
          )}
        </td>
      </tr>
      {(error || problems.length > 0) && (
        <tr>
          <td colSpan={8}>
            <Problems error={error} violations={problems} />
          </td>
        </tr>
      )}
    </>
  );
}
