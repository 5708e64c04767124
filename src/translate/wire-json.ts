/**
 * Generated JSON -> encoded (strict) -> decoded: exactly what a proxy would be
 * sent, in Envoy's JSON form. `translate` prints it and static bootstraps are
 * built from it, so neither can show a field the wire would not carry.
 */
import { encodeResource, resourceToJson } from "../xds/resource";
import type { XdsTypeUrl } from "../xds/types";

export function wireJson(url: XdsTypeUrl, resources: object[]): unknown[] {
  return resources.map((r) => resourceToJson(encodeResource(url, r)));
}
