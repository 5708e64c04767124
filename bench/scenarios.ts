/**
 * Scenarios as plans: the initial snapshot and a list of timed changes, built
 * once so every server receives byte-identical snapshot bodies and the same
 * markers.
 */
import { Change, MeshShape, SyntheticMesh, snapshotBody } from "./resources";

export type ScenarioName = "endpoint" | "route" | "new-service" | "churn" | "storm";
export const SCENARIOS: readonly ScenarioName[] = ["storm", "endpoint", "route", "new-service", "churn"];

export const SCENARIO_HELP: Record<ScenarioName, string> = {
  storm: "all clients connect at once; latency = time until each has full config (CDS, EDS, LDS, RDS ACKed)",
  endpoint: "one pod of one service replaced (EDS only)",
  route: "a VirtualService-like weighted route changes its weights (RDS only)",
  "new-service": "a new service on a new port (CDS + EDS + LDS + RDS)",
  churn: "alternating endpoint and route changes every --churn-interval ms for --duration s",
};

export interface PlannedChange extends Change {
  /** ms after the first change at which this one is applied. */
  atMs: number;
  body: string;
}

export interface ScenarioPlan {
  name: ScenarioName;
  /** Snapshot body before the scenario. */
  initial: string;
  resourceCount: number;
  initialBytes: number;
  changes: PlannedChange[];
}

export interface PlanOptions {
  shape: MeshShape;
  churnIntervalMs: number;
  durationS: number;
}

export function planScenario(name: ScenarioName, o: PlanOptions): ScenarioPlan {
  const mesh = new SyntheticMesh(o.shape);
  const initialResources = mesh.resources();
  let v = 1;
  const initial = snapshotBody(`v${v}`, initialResources);
  const changes: PlannedChange[] = [];
  const add = (c: Change, atMs: number) => changes.push({ ...c, atMs, body: snapshotBody(`v${++v}`, mesh.resources()) });
  switch (name) {
    case "storm":
      break;
    case "endpoint":
      add(mesh.endpointChange(), 0);
      break;
    case "route":
      add(mesh.routeChange(), 0);
      break;
    case "new-service":
      add(mesh.newService(), 0);
      break;
    case "churn": {
      const n = Math.max(1, Math.floor((o.durationS * 1000) / o.churnIntervalMs));
      for (let i = 0; i < n; i++) add(i % 2 === 0 || o.shape.routes === 0 ? mesh.endpointChange() : mesh.routeChange(), i * o.churnIntervalMs);
      break;
    }
  }
  return {
    name,
    initial,
    resourceCount: initialResources.length,
    initialBytes: initialResources.reduce((n, r) => n + r.bytes.length, 0),
    changes,
  };
}
