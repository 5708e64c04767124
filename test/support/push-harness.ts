/**
 * What the push-pipeline unit tests share: test manifests read the way the CLI reads them (parse, then validate,
 * asserting both are clean), and a PushPipeline over a fresh store on a fake clock with its pushes recorded.
 */
import assert from "node:assert/strict";
import { ConfigStore } from "../../src/store";
import { parseManifests } from "../../src/model/parse";
import { validateObject } from "../../src/model/validate";
import type { MeshObject } from "../../src/model/types";
import { PushPipeline, PushReport } from "../../src/push/pipeline";
import { FakeClock } from "./fake-clock";

/** The objects of a test manifest; fails the test on any parse or validation diagnostic. */
export function meshObjects(yaml: string): MeshObject[] {
  const parsed = parseManifests(yaml, "test.yaml");
  assert.deepEqual(parsed.diagnostics, []);
  return parsed.objects.map(({ raw, origin }) => {
    const r = validateObject(raw, origin);
    assert.ok(r.ok, `test manifest is valid: ${JSON.stringify(r.ok ? "" : r.diagnostics)}`);
    return r.object;
  });
}

/** A pipeline over a store holding `yaml`, on a fake clock, logging nothing but errors (to `onError`, if given). */
export function pipelineOn(yaml: string, debounce: { afterMs: number; maxMs: number }, onError: (o: object) => void = () => undefined) {
  const clock = new FakeClock();
  const store = new ConfigStore();
  store.apply(meshObjects(yaml));
  const pushes: PushReport[] = [];
  const quiet = () => undefined;
  const pipeline = new PushPipeline(store, {
    clock,
    debounceAfterMs: debounce.afterMs,
    debounceMaxMs: debounce.maxMs,
    onPush: (r) => pushes.push(r),
    log: { info: quiet, warn: quiet, error: onError },
  });
  return { clock, store, pipeline, pushes };
}
