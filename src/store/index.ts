/** The config store: typed objects by key, change sets on write. */
export { ConfigStore, isEmptyChangeSet, keyOf } from "./config-store";
export type { ChangeListener, ChangeSet } from "./config-store";
export { sameContent } from "./equal";
