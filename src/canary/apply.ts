/**
 * Apply a plan one change at a time; when a change fails, undo the ones
 * already made, newest first, and say what was rolled back (and what could
 * not be, which then needs a human). Never leaves a half-made canary silently.
 */
import { Change, describeChange } from "./plan";

export interface ChangeWriter {
  apply(c: Change): Promise<void>;
  undo(c: Change): Promise<void>;
}

export class ApplyError extends Error {}

const firstLine = (e: unknown): string => ((e as Error).message ?? String(e)).split("\n")[0]!;

/** Returns the lines describing what was done. */
export async function applyPlan(changes: Change[], writer: ChangeWriter): Promise<string[]> {
  const done: Change[] = [];
  for (const c of changes) {
    try {
      await writer.apply(c);
      done.push(c);
    } catch (e) {
      const undone: string[] = [];
      const stuck: string[] = [];
      for (const d of done.reverse()) {
        try {
          await writer.undo(d);
          undone.push(describeChange(d).replace(/^(created|updated|deleted)/, (w) => ({ created: "deleted", updated: "restored", deleted: "re-created" })[w]!));
        } catch (u) {
          stuck.push(`${describeChange(d)} (${firstLine(u)})`);
        }
      }
      const rolled = done.length === 0 ? "nothing had been changed" : undone.length > 0 ? `rolled back: ${undone.join(", ")}` : "";
      const left = stuck.length > 0 ? `; COULD NOT roll back, fix by hand: ${stuck.join(", ")}` : "";
      throw new ApplyError(`${c.op} ${c.kind} ${c.name} failed: ${firstLine(e)}; ${rolled}${left}`);
    }
  }
  return done.map(describeChange);
}
