// Live figures and a hand-made SVG step plot of the last minutes.
import { timestampDate } from "@bufbuild/protobuf/wkt";

import { type Sample, type StatsSeries, WINDOW_MS } from "../api";
import { bytes, figure } from "../format";

const W = 260;
const H = 56;
const MIN_SPAN_MS = 60_000;

const ago = (ms: number) => (ms >= 120_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`);

/** One series of `samples` over the last WINDOW_MS before `now`; a figure holds until the
 * next sample, and an unavailable one leaves a gap. */
export function Sparkline({
  samples,
  value,
  now,
  label,
  digits = 0,
  testid,
}: {
  samples: Sample[];
  value: (s: Sample) => number | undefined;
  now: number;
  label: string;
  digits?: number;
  testid?: string;
}) {
  // The last WINDOW_MS, or less while the history is younger (at least a minute).
  const span = Math.min(WINDOW_MS, Math.max(MIN_SPAN_MS, now - (samples[0]?.t ?? now)));
  const start = now - span;
  const points = samples.map((s) => ({ t: s.t, v: value(s) }));
  const measured = points.some((p) => p.v !== undefined);
  const max = Math.max(1, ...points.map((p) => p.v ?? 0));
  const x = (t: number) => ((Math.min(Math.max(t, start), now) - start) / span) * W;
  const y = (v: number) => H - 2 - (v / max) * (H - 6);
  let d = "";
  points.forEach((p, i) => {
    if (p.v === undefined) return;
    const end = points[i + 1]?.t ?? now;
    if (end < start) return;
    const joined = i > 0 && points[i - 1].v !== undefined && points[i - 1].t >= start;
    d += `${joined ? "L" : "M"}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}H${x(end).toFixed(1)}`;
  });
  const latest = points.at(-1)?.v;
  return (
    <figure className="spark" data-testid={testid}>
      <figcaption>
        <span>{label}</span>
        <b data-testid={testid && `${testid}-value`}>{figure(latest, digits)}</b>
        <small>{measured ? `max ${figure(max, digits)} · last ${ago(span)}` : "not measured"}</small>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={`${label}, last ${ago(span)}`}>
        <line x1="0" x2={W} y1={H - 2} y2={H - 2} className="axis" />
        {d && <path d={d} />}
      </svg>
    </figure>
  );
}

/** A load balancer's figures: measured ones, or why they are unavailable. */
export function StatsPanel({ series, now }: { series: StatsSeries | undefined; now: number }) {
  if (!series)
    return (
      <section className="panel stats" data-testid="stats-panel">
        Loading statistics…
      </section>
    );
  const s = series.latest;
  return (
    <section className="panel stats" data-testid="stats-panel">
      <h3>Statistics</h3>
      {s.unavailableReason && (
        <p className="unavailable" data-testid="stats-unavailable">
          Statistics unavailable: {s.unavailableReason}
        </p>
      )}
      <div className="stats-grid">
        <Sparkline
          samples={series.samples}
          value={(x) => x.active}
          now={now}
          label="Open connections"
          testid="plot-active"
        />
        <Sparkline
          samples={series.samples}
          value={(x) => x.rps}
          now={now}
          label="Connections / s"
          digits={1}
          testid="plot-rps"
        />
        <dl className="figures">
          <dt>Total connections</dt>
          <dd data-testid="stat-total">{figure(s.totalConnections)}</dd>
          <dt>Bytes in</dt>
          <dd>{bytes(s.bytesIn)}</dd>
          <dt>Bytes out</dt>
          <dd>{bytes(s.bytesOut)}</dd>
          <dt>Sampled</dt>
          <dd>{s.sampledAt ? timestampDate(s.sampledAt).toLocaleTimeString() : "—"}</dd>
        </dl>
      </div>
    </section>
  );
}
