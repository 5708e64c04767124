/** Cooperative work in steps lives in src/util/steps.ts (the server slices big requests with it too). */
export * from "../util/steps";
