// Create a load balancer: name, project, network, optional VIP, listeners and pools.
import { create } from "@bufbuild/protobuf";
import { type CreateLoadBalancerRequest, CreateLoadBalancerRequestSchema } from "@quantix-lb/client";
import { type FormEvent, useState } from "react";

import { useLbMutation } from "../api";
import {
  Builder,
  Field,
  type ListenerDraft,
  newListener,
  newPool,
  type PoolDraft,
  ViolationList,
  Violations,
} from "../form";
import { client, messageOf, type Violation, violationsOf } from "../transport";
import { DraftList, ListenerEditor, PoolEditor } from "./Editors";

export function CreateForm({
  projects,
  defaultProject,
  onCreated,
  onCancel,
}: {
  projects: string[];
  defaultProject: string;
  onCreated: (id: string) => void;
  onCancel: () => void;
}) {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [project, setProject] = useState(defaultProject);
  const [network, setNetwork] = useState("");
  const [vip, setVip] = useState("");
  const [pools, setPools] = useState<PoolDraft[]>([newPool("web")]);
  const [listeners, setListeners] = useState<ListenerDraft[]>([newListener("web")]);
  const [violations, setViolations] = useState<Violation[]>([]);
  const [failure, setFailure] = useState("");
  const createLb = useLbMutation((req: CreateLoadBalancerRequest) => client.createLoadBalancer(req));

  function build() {
    const b = new Builder();
    const request = create(CreateLoadBalancerRequestSchema, {
      name: name.trim(),
      description: description.trim(),
      projectId: project.trim(),
      spec: {
        networkId: network.trim(),
        vipAddress: vip.trim(),
        listeners: listeners.map((l, i) => b.listener(l, `spec.listeners[${i}]`)),
        pools: pools.map((p, i) => b.pool(p, `spec.pools[${i}]`)),
      },
    });
    return { request, local: b.violations };
  }

  function submit(e: FormEvent) {
    e.preventDefault();
    const { request, local } = build();
    setFailure("");
    setViolations(local);
    if (local.length) return;
    createLb.mutate(request, {
      onSuccess: (lb) => onCreated(lb.id),
      onError: (err) => {
        const found = violationsOf(err);
        setViolations(found);
        setFailure(found.length ? "The server refused these fields:" : messageOf(err));
      },
    });
  }

  const poolNames: [string, string][] = pools.map((p) => [p.name, p.name]).filter(([n]) => n) as [string, string][];
  return (
    <form className="panel create-form" data-testid="create-form" onSubmit={submit} noValidate>
      <h2>New load balancer</h2>
      <Violations of={violations}>
        {(failure || violations.length > 0) && (
          <div className="error-box" role="alert">
            {failure && <p data-testid="create-error">{failure}</p>}
            <ViolationList violations={violations} />
          </div>
        )}
        <div className="row wrap">
          <Field label="Name" path="name">
            {(id) => <input id={id} name="name" value={name} onChange={(e) => setName(e.target.value)} autoFocus />}
          </Field>
          <Field label="Project" path="project_id">
            {(id) => (
              <>
                <input
                  id={id}
                  name="project"
                  list="known-projects"
                  value={project}
                  onChange={(e) => setProject(e.target.value)}
                />
                <datalist id="known-projects">
                  {projects.map((p) => (
                    <option key={p} value={p} />
                  ))}
                </datalist>
              </>
            )}
          </Field>
          <Field label="Network" path="spec.network_id" also={["network_id"]}>
            {(id) => <input id={id} name="network" value={network} onChange={(e) => setNetwork(e.target.value)} />}
          </Field>
          <Field label="VIP (optional)" path="spec.vip_address" also={["vip_address"]}>
            {(id) => (
              <input
                id={id}
                name="vip"
                placeholder="allocated from the subnet"
                value={vip}
                onChange={(e) => setVip(e.target.value)}
              />
            )}
          </Field>
          <Field label="Description" path="description" wide>
            {(id) => (
              <input id={id} name="description" value={description} onChange={(e) => setDescription(e.target.value)} />
            )}
          </Field>
        </div>

        <h3>Listeners</h3>
        <DraftList
          drafts={listeners}
          onChange={setListeners}
          path="spec.listeners"
          noun="listener"
          fresh={() => newListener(pools[0]?.name ?? "")}
          keep={1}
          editor={(props) => <ListenerEditor {...props} pools={poolNames} />}
        />

        <h3>Pools</h3>
        <DraftList
          drafts={pools}
          onChange={setPools}
          path="spec.pools"
          noun="pool"
          fresh={() => newPool(`pool-${pools.length + 1}`)}
          keep={1}
          editor={(props) => <PoolEditor {...props} />}
        />
      </Violations>
      <div className="actions">
        <button type="submit" className="primary" data-testid="create-submit" disabled={createLb.isPending}>
          {createLb.isPending ? "Creating…" : "Create load balancer"}
        </button>
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
