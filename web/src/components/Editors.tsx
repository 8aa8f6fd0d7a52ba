// Inputs for a pool (algorithm, members, health monitor, persistence), a member and a
// listener; each field names the path the server's violations use.
import {
  HealthMonitor_Type,
  Listener_Protocol,
  Pool_Algorithm,
  SessionPersistence_Type,
} from "@quantix-lb/client/network";
import { Fragment, type ReactNode } from "react";

import { algorithmName, enumValues, monitorTypeName, persistenceName, protocolName } from "../format";
import { Field, type ListenerDraft, type MemberDraft, type MonitorDraft, newMember, type PoolDraft } from "../form";

type Change<T> = (next: T) => void;

/** What every draft's editor takes; `path` is where the server's violations point. */
export interface EditorProps<D> {
  value: D;
  onChange: Change<D>;
  path: string;
  onRemove?: () => void;
}

/** An editor for each draft of a list (at `path[i]`) and a "+ noun" button that adds a
 * fresh one; the remove buttons go when only `keep` are left. */
export function DraftList<D>({
  drafts,
  onChange,
  path,
  noun,
  fresh,
  keep = 0,
  editor,
}: {
  drafts: D[];
  onChange: Change<D[]>;
  path: string;
  noun: string;
  fresh: () => D;
  keep?: number;
  /** Called, not mounted: an inline component would be remounted (and lose focus) on
   * every render. */
  editor: (props: EditorProps<D>) => ReactNode;
}) {
  return (
    <>
      {drafts.map((draft, i) => (
        <Fragment key={i}>
          {editor({
            value: draft,
            path: `${path}[${i}]`,
            onChange: (next) => onChange(drafts.map((old, k) => (k === i ? next : old))),
            onRemove: drafts.length > keep ? () => onChange(drafts.filter((_, k) => k !== i)) : undefined,
          })}
        </Fragment>
      ))}
      <button type="button" className="link" onClick={() => onChange([...drafts, fresh()])}>
        {`+ ${noun}`}
      </button>
    </>
  );
}

export function MemberEditor({ value, onChange, path, onRemove }: EditorProps<MemberDraft>) {
  const set = (patch: Partial<MemberDraft>) => onChange({ ...value, ...patch });
  return (
    <div className="row member-editor" data-testid="member-editor">
      <Field label="Address" path={`${path}.address`}>
        {(id) => (
          <input
            id={id}
            name="address"
            placeholder="10.0.0.10"
            value={value.address}
            onChange={(e) => set({ address: e.target.value })}
          />
        )}
      </Field>
      <Field label="Port" path={`${path}.port`}>
        {(id) => (
          <input
            id={id}
            name="port"
            inputMode="numeric"
            placeholder="8080"
            value={value.port}
            onChange={(e) => set({ port: e.target.value })}
          />
        )}
      </Field>
      <Field label="Weight" path={`${path}.weight`}>
        {(id) => (
          <input
            id={id}
            name="weight"
            inputMode="numeric"
            placeholder="1"
            value={value.weight}
            onChange={(e) => set({ weight: e.target.value })}
          />
        )}
      </Field>
      <Field label="Name" path={`${path}.name`}>
        {(id) => (
          <input
            id={id}
            name="member-name"
            placeholder="optional"
            value={value.name}
            onChange={(e) => set({ name: e.target.value })}
          />
        )}
      </Field>
      {onRemove && (
        <button type="button" className="link danger" onClick={onRemove} aria-label="Remove member">
          ✕
        </button>
      )}
    </div>
  );
}

export function MonitorEditor({
  value,
  onChange,
  path,
}: {
  value: MonitorDraft;
  onChange: Change<MonitorDraft>;
  path: string;
}) {
  const set = (patch: Partial<MonitorDraft>) => onChange({ ...value, ...patch });
  const http = value.type === HealthMonitor_Type.HTTP || value.type === HealthMonitor_Type.HTTPS;
  const p = `${path}.health_monitor`;
  return (
    <fieldset className="monitor">
      <legend>
        <label>
          <input
            type="checkbox"
            name="monitor-enabled"
            checked={value.enabled}
            onChange={(e) => set({ enabled: e.target.checked })}
          />{" "}
          Health monitor
        </label>
      </legend>
      {value.enabled && (
        <div className="row wrap">
          <Field label="Type" path={`${p}.type`}>
            {(id) => (
              <select
                id={id}
                name="monitor-type"
                value={value.type}
                onChange={(e) => set({ type: Number(e.target.value) })}
              >
                {enumValues(HealthMonitor_Type).map((t) => (
                  <option key={t} value={t}>
                    {monitorTypeName(t)}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Delay (s)" path={`${p}.delay`} also={[`${p}.delay_ms`]}>
            {(id) => (
              <input
                id={id}
                name="delay"
                inputMode="decimal"
                value={value.delay}
                onChange={(e) => set({ delay: e.target.value })}
              />
            )}
          </Field>
          <Field label="Timeout (s)" path={`${p}.timeout`} also={[`${p}.timeout_ms`]}>
            {(id) => (
              <input
                id={id}
                name="timeout"
                inputMode="decimal"
                value={value.timeout}
                onChange={(e) => set({ timeout: e.target.value })}
              />
            )}
          </Field>
          <Field label="Max retries" path={`${p}.max_retries`}>
            {(id) => (
              <input
                id={id}
                name="max-retries"
                inputMode="numeric"
                placeholder="3"
                value={value.maxRetries}
                onChange={(e) => set({ maxRetries: e.target.value })}
              />
            )}
          </Field>
          <Field label="Healthy threshold" path={`${p}.healthy_threshold`}>
            {(id) => (
              <input
                id={id}
                name="healthy-threshold"
                inputMode="numeric"
                placeholder="2"
                value={value.healthyThreshold}
                onChange={(e) => set({ healthyThreshold: e.target.value })}
              />
            )}
          </Field>
          {http && (
            <>
              <Field label="HTTP method" path={`${p}.http_method`}>
                {(id) => (
                  <input
                    id={id}
                    name="http-method"
                    value={value.httpMethod}
                    onChange={(e) => set({ httpMethod: e.target.value })}
                  />
                )}
              </Field>
              <Field label="URL path" path={`${p}.url_path`}>
                {(id) => (
                  <input
                    id={id}
                    name="url-path"
                    value={value.urlPath}
                    onChange={(e) => set({ urlPath: e.target.value })}
                  />
                )}
              </Field>
              <Field label="Expected codes" path={`${p}.expected_codes`}>
                {(id) => (
                  <input
                    id={id}
                    name="expected-codes"
                    placeholder="200-299"
                    value={value.expectedCodes}
                    onChange={(e) => set({ expectedCodes: e.target.value })}
                  />
                )}
              </Field>
              <Field label="Host header" path={`${p}.domain_name`}>
                {(id) => (
                  <input
                    id={id}
                    name="domain-name"
                    placeholder="member address"
                    value={value.domainName}
                    onChange={(e) => set({ domainName: e.target.value })}
                  />
                )}
              </Field>
            </>
          )}
          {value.type === HealthMonitor_Type.HTTPS && (
            <Field label="Verify TLS" path={`${p}.tls_verify`}>
              {(id) => (
                <input
                  id={id}
                  type="checkbox"
                  name="tls-verify"
                  checked={value.tlsVerify}
                  onChange={(e) => set({ tlsVerify: e.target.checked })}
                />
              )}
            </Field>
          )}
        </div>
      )}
    </fieldset>
  );
}

export function PoolEditor({ value, onChange, path, onRemove }: EditorProps<PoolDraft>) {
  const set = (patch: Partial<PoolDraft>) => onChange({ ...value, ...patch });
  return (
    <fieldset className="pool-editor" data-testid="pool-editor">
      <legend>Pool {value.name || ""}</legend>
      <div className="row">
        <Field label="Pool name" path={`${path}.name`}>
          {(id) => (
            <input id={id} name="pool-name" value={value.name} onChange={(e) => set({ name: e.target.value })} />
          )}
        </Field>
        <Field label="Algorithm" path={`${path}.algorithm`}>
          {(id) => (
            <select
              id={id}
              name="algorithm"
              value={value.algorithm}
              onChange={(e) => set({ algorithm: Number(e.target.value) })}
            >
              {enumValues(Pool_Algorithm).map((a) => (
                <option key={a} value={a}>
                  {algorithmName(a)}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Session persistence" path={`${path}.persistence.type`}>
          {(id) => (
            <select
              id={id}
              name="persistence"
              value={value.persistence}
              onChange={(e) => set({ persistence: Number(e.target.value) })}
            >
              {/* Cookie persistence needs an L7 proxy: the server refuses it. */}
              {[SessionPersistence_Type.NONE, SessionPersistence_Type.SOURCE_IP].map((t) => (
                <option key={t} value={t}>
                  {persistenceName(t)}
                </option>
              ))}
            </select>
          )}
        </Field>
        {value.persistence !== SessionPersistence_Type.NONE && (
          <Field label="Persistence timeout (s)" path={`${path}.persistence.timeout`}>
            {(id) => (
              <input
                id={id}
                name="persistence-timeout"
                inputMode="numeric"
                placeholder="300"
                value={value.persistenceTimeout}
                onChange={(e) => set({ persistenceTimeout: e.target.value })}
              />
            )}
          </Field>
        )}
        {onRemove && (
          <button type="button" className="link danger" onClick={onRemove}>
            Remove pool
          </button>
        )}
      </div>
      <h4>Members</h4>
      <DraftList
        drafts={value.members}
        onChange={(members) => set({ members })}
        path={`${path}.members`}
        noun="member"
        fresh={newMember}
        editor={(props) => <MemberEditor {...props} />}
      />
      <MonitorEditor value={value.monitor} path={path} onChange={(monitor) => set({ monitor })} />
    </fieldset>
  );
}

export function ListenerEditor({
  value,
  onChange,
  path,
  pools,
  onRemove,
}: EditorProps<ListenerDraft> & {
  /** [value, label] of the pools it may use. */
  pools: [string, string][];
}) {
  const set = (patch: Partial<ListenerDraft>) => onChange({ ...value, ...patch });
  return (
    <div className="row listener-editor" data-testid="listener-editor">
      <Field label="Protocol" path={`${path}.protocol`}>
        {(id) => (
          <select
            id={id}
            name="protocol"
            value={value.protocol}
            onChange={(e) => set({ protocol: Number(e.target.value) })}
          >
            {enumValues(Listener_Protocol).map((p) => (
              <option key={p} value={p}>
                {protocolName(p)}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Port" path={`${path}.port`}>
        {(id) => (
          <input
            id={id}
            name="listener-port"
            inputMode="numeric"
            placeholder="80"
            value={value.port}
            onChange={(e) => set({ port: e.target.value })}
          />
        )}
      </Field>
      <Field label="Pool" path={`${path}.default_pool_id`}>
        {(id) => (
          <select id={id} name="listener-pool" value={value.pool} onChange={(e) => set({ pool: e.target.value })}>
            <option value="">(the only pool)</option>
            {pools.map(([v, label]) => (
              <option key={v} value={v}>
                {label}
              </option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Name" path={`${path}.name`}>
        {(id) => (
          <input
            id={id}
            name="listener-name"
            placeholder="optional"
            value={value.name}
            onChange={(e) => set({ name: e.target.value })}
          />
        )}
      </Field>
      {onRemove && (
        <button type="button" className="link danger" onClick={onRemove} aria-label="Remove listener">
          ✕
        </button>
      )}
    </div>
  );
}
