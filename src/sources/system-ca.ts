/**
 * Find the operating system's CA bundle on this host, as pilot-agent does
 * (GetOSRootFilePath): the first path of model/tls-roots.ts's list that
 * exists. null when there is none (a slim image without ca-certificates).
 */
import * as fs from "node:fs";
import { SYSTEM_CA_BUNDLE_CANDIDATES } from "../model/tls-roots";

export function findSystemCaBundle(exists: (path: string) => boolean = fs.existsSync): string | null {
  return SYSTEM_CA_BUNDLE_CANDIDATES.find((p) => exists(p)) ?? null;
}
